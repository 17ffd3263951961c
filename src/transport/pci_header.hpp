#pragma once
// The first 256 bytes of the function's config space as plain registers:
// the identity of a modern virtio device, the capability list (the virtio
// capabilities, then MSI-X) and the few bits a driver may write (command,
// interrupt line, the PCI cfg access capability's window). Side effects
// (BAR placement, INTx masking, the cfg window's BAR access, MSI-X's
// Message Control) belong to VirtioPci; this only stores bytes.

#include "transport/pci_layout.hpp"

#include <array>
#include <cstdint>

namespace xenvhost::transport::pci {

class PciHeader {
public:
    PciHeader(uint32_t virtio_device_id);

    // Dword `reg` (a multiple of 4 below kHeaderSize).
    uint32_t read(uint32_t reg) const;
    // Writes the bytes of `value` that `byte_mask` selects (bit i: byte i)
    // and that are writable.
    void write(uint32_t reg, uint32_t value, uint8_t byte_mask);
    // Stores a value the device produced in a driver-read-only place (the
    // cfg window's data after a BAR read).
    void store(uint32_t reg, uint32_t value);

    uint16_t command() const;

private:
    void set(uint32_t at, uint32_t value, unsigned size, uint32_t writable = 0);
    void vendor_cap(uint32_t at, uint8_t next, uint8_t length, uint8_t type, uint64_t region, uint64_t region_size);

    std::array<uint8_t, kHeaderSize> bytes_{};
    std::array<uint8_t, kHeaderSize> writable_{};
};

}  // namespace xenvhost::transport::pci
