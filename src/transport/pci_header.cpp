#include "transport/pci_header.hpp"

#include <cstring>

namespace xenvhost::transport::pci {

namespace {
// Class code by virtio device type: block like QEMU's virtio-blk (mass
// storage, SCSI), network as an Ethernet controller, others "other".
uint16_t class_code(uint32_t virtio_device_id) {
    switch (virtio_device_id) {
        case 1: return 0x0200;
        case 2: return 0x0100;
        default: return 0xff00;
    }
}
}  // namespace

PciHeader::PciHeader(uint32_t virtio_device_id) {
    set(0x00, kVendorVirtio, 2);
    set(0x02, static_cast<uint16_t>(kDeviceIdBase + virtio_device_id), 2);
    set(kCommand, 0, 2, kCommandMemory | kCommandBusMaster | kCommandIntxDisable);
    set(0x06, kStatusCapabilities, 2);
    set(0x08, 1, 1);  // revision 1: a modern device
    set(0x0a, class_code(virtio_device_id), 2);
    set(0x2c, kVendorVirtio, 2);
    set(0x2e, kSubsystemId, 2);
    set(kCapabilitiesPointer, kCapCommon, 1);
    set(kInterruptLine, 0, 1, 0xff);
    set(0x3d, 1, 1);  // interrupt pin: INTA

    vendor_cap(kCapCommon, kCapIsr, 16, kCapCommonCfg, kCommonRegion, kRegionSize);
    vendor_cap(kCapIsr, kCapDevice, 16, kCapIsrCfg, kIsrRegion, kRegionSize);
    vendor_cap(kCapDevice, kCapNotify, 16, kCapDeviceCfg, kDeviceRegion, kRegionSize);
    vendor_cap(kCapNotify, kCapPci, 20, kCapNotifyCfg, kNotifyRegion, kRegionSize);
    set(kCapNotify + 16, kNotifyMultiplier, 4);
    // The cfg access window: the driver picks BAR, offset and length.
    vendor_cap(kCapPci, kCapMsix, 20, kCapPciCfg, 0, 0);
    set(kCapPciBar, 0, 1, 0xff);
    set(kCapPciOffset, 0, 4, 0xffffffff);
    set(kCapPciLength, 0, 4, 0xffffffff);
    set(kCapPciData, 0, 4, 0xffffffff);
    // MSI-X: Message Control is VirtioPci's (it lives in the MsixTable).
    set(kCapMsix, kCapIdMsix, 1);
    set(kCapMsix + 1, 0, 1);
    set(kCapMsixTable, static_cast<uint32_t>(kMsixTableRegion) | kBarIndex, 4);
    set(kCapMsixPba, static_cast<uint32_t>(kMsixPbaRegion) | kBarIndex, 4);
}

// struct virtio_pci_cap: vndr, next, len, cfg_type, bar, id, padding[2], offset, length.
void PciHeader::vendor_cap(uint32_t at, uint8_t next, uint8_t length, uint8_t type, uint64_t region,
                           uint64_t region_size) {
    set(at, kCapVendor, 1);
    set(at + 1, next, 1);
    set(at + 2, length, 1);
    set(at + 3, type, 1);
    set(at + 4, kBarIndex, 1);
    set(at + 8, static_cast<uint32_t>(region), 4);
    set(at + 12, static_cast<uint32_t>(region_size), 4);
}

void PciHeader::set(uint32_t at, uint32_t value, unsigned size, uint32_t writable) {
    std::memcpy(&bytes_[at], &value, size);
    std::memcpy(&writable_[at], &writable, size);
}

uint32_t PciHeader::read(uint32_t reg) const {
    uint32_t value;
    std::memcpy(&value, &bytes_[reg], 4);
    return value;
}

void PciHeader::write(uint32_t reg, uint32_t value, uint8_t byte_mask) {
    for (unsigned i = 0; i < 4; ++i) {
        if (!(byte_mask & (1u << i))) continue;
        const auto byte = static_cast<uint8_t>(value >> (8 * i));
        uint8_t& stored = bytes_[reg + i];
        stored = static_cast<uint8_t>((stored & ~writable_[reg + i]) | (byte & writable_[reg + i]));
    }
}

void PciHeader::store(uint32_t reg, uint32_t value) { std::memcpy(&bytes_[reg], &value, 4); }

uint16_t PciHeader::command() const {
    uint16_t value;
    std::memcpy(&value, &bytes_[kCommand], 2);
    return value;
}

}  // namespace xenvhost::transport::pci
