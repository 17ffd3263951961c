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
};

}  // namespace xenvhost::transport
