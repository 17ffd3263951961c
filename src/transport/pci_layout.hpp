#pragma once
// Where things are in the emulated virtio-pci function: the type-0 header
// registers used here, the vendor capabilities (virtio 1.2 4.1.4) and the
// MSI-X capability in config space, and the 4 KiB regions of the one 64-bit
// memory BAR: the four virtio structures, then the MSI-X table and PBA.

#include <cstdint>

namespace xenvhost::transport::pci {

// Type-0 header (PCI Local Bus 3.0, 6.1).
inline constexpr uint16_t kVendorVirtio = 0x1af4;
inline constexpr uint16_t kDeviceIdBase = 0x1040;  // + virtio device type: modern-only
inline constexpr uint16_t kSubsystemId = 0x1100;
inline constexpr uint32_t kCommand = 0x04;  // dword: command (low), status (high)
inline constexpr uint32_t kBar0 = 0x10;     // BAR 0 and 1: the 64-bit BAR
inline constexpr uint32_t kBar1 = 0x14;
inline constexpr uint32_t kCapabilitiesPointer = 0x34;
inline constexpr uint32_t kInterruptLine = 0x3c;

inline constexpr uint16_t kCommandMemory = 0x0002;
inline constexpr uint16_t kCommandBusMaster = 0x0004;
inline constexpr uint16_t kCommandIntxDisable = 0x0400;
inline constexpr uint16_t kStatusInterrupt = 0x0008;
inline constexpr uint16_t kStatusCapabilities = 0x0010;
inline constexpr uint32_t kBarMemory64 = 0x4;  // memory, 64-bit, not prefetchable

inline constexpr uint32_t kConfigSpaceSize = 4096;  // extended space reads 0
inline constexpr uint32_t kHeaderSize = 256;

// Vendor capabilities: cfg_type values and where each one sits.
inline constexpr uint8_t kCapVendor = 0x09;
inline constexpr uint8_t kCapCommonCfg = 1, kCapNotifyCfg = 2, kCapIsrCfg = 3, kCapDeviceCfg = 4, kCapPciCfg = 5;
inline constexpr uint32_t kCapCommon = 0x40;   // 16 bytes
inline constexpr uint32_t kCapIsr = 0x50;      // 16 bytes
inline constexpr uint32_t kCapDevice = 0x60;   // 16 bytes
inline constexpr uint32_t kCapNotify = 0x70;   // 20 bytes: + notify_off_multiplier
inline constexpr uint32_t kCapPci = 0x84;      // 20 bytes: + pci_cfg_data
inline constexpr uint32_t kCapPciBar = kCapPci + 4;
inline constexpr uint32_t kCapPciOffset = kCapPci + 8;
inline constexpr uint32_t kCapPciLength = kCapPci + 12;
inline constexpr uint32_t kCapPciData = kCapPci + 16;  // dword-aligned

// MSI-X (PCI Local Bus 3.0, 6.8.2), last on the list: id, next, Message
// Control (table size - 1 in bits 10:0), then table and PBA offsets, each
// with the BAR index in its low 3 bits.
inline constexpr uint8_t kCapIdMsix = 0x11;
inline constexpr uint32_t kCapMsix = 0x98;  // 12 bytes
inline constexpr uint32_t kCapMsixTable = kCapMsix + 4;
inline constexpr uint32_t kCapMsixPba = kCapMsix + 8;
inline constexpr uint16_t kMsixEnable = 0x8000;
inline constexpr uint16_t kMsixFunctionMask = 0x4000;

// The BAR: one region a page, the notify page holding a slot per queue.
// The MSI-X table and PBA get pages of their own (the PCI spec's advice: a
// page that holds them holds nothing else), so the BAR is 32 KiB, its size a
// power of two; 0x6000-0x7fff is unused.
inline constexpr uint8_t kBarIndex = 0;
inline constexpr uint64_t kBarSize = 0x8000;
inline constexpr uint64_t kRegionSize = 0x1000;
inline constexpr uint64_t kCommonRegion = 0x0000;
inline constexpr uint64_t kIsrRegion = 0x1000;
inline constexpr uint64_t kDeviceRegion = 0x2000;
inline constexpr uint64_t kNotifyRegion = 0x3000;
inline constexpr uint64_t kMsixTableRegion = 0x4000;
inline constexpr uint64_t kMsixPbaRegion = 0x5000;
inline constexpr uint32_t kNotifyMultiplier = 4;  // bytes between queues' notify addresses

// A vector per queue and one for config changes, as many as one page of
// table holds (16 bytes an entry); a driver that wants more queues than
// that shares vectors (Linux falls back to one for all queues).
inline constexpr uint16_t kMsixEntrySize = 16;
inline constexpr uint16_t kMaxMsixVectors = kRegionSize / kMsixEntrySize;

}  // namespace xenvhost::transport::pci
