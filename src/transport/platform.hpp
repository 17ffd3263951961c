#pragma once
// What a transport needs from the hypervisor side, implemented by the ioreq
// server (src/device_model) and by a simulated platform in the tests.
// Calls come from the thread that handles the accesses.

#include "base/error.hpp"

#include <cstdint>

namespace xenvhost::transport {

class Platform {
public:
    virtual ~Platform() = default;
    // Routes guest accesses to [first, last] (inclusive) to this device, or
    // stops routing them. A range the platform will not route (it overlaps
    // guest RAM or another device's range) fails with kPolicy.
    virtual Result<> claim_mmio(uint64_t first, uint64_t last) = 0;
    virtual Result<> release_mmio(uint64_t first, uint64_t last) = 0;
    // Whether [first, last] overlaps the guest's RAM (a BAR may not go there).
    virtual bool overlaps_ram(uint64_t first, uint64_t last) const = 0;
    // The level of the device's interrupt line: INTx of the PCI function, or
    // the GSI / SPI of a virtio-mmio device. Level-triggered: asserted while
    // the ISR has bits set.
    virtual void set_irq_level(bool asserted) = 0;
    // One message-signalled interrupt (an MSI-X table entry's address and
    // data), passed to the hypervisor as the guest wrote it: the format is
    // the guest's and the hypervisor's business (a PVHVM Linux on Xen puts a
    // pirq in the address), never interpreted here.
    virtual void send_msi(uint64_t address, uint32_t data) = 0;
    // Whether the hypervisor masks this message itself, so the MSI-X table's
    // mask bits and Function Mask must not hold it back. On Xen an MSI whose
    // data has vector 0 names a pirq, masked through its event channel: a
    // PVHVM Linux never unmasks such entries (pci_msi_ignore_mask), and
    // qemu-xen ignores their masks (msix_vector_masked, xen_is_pirq_msi).
    virtual bool msi_masked_elsewhere(uint64_t address, uint32_t data) const = 0;
};

}  // namespace xenvhost::transport
