#pragma once
// One guest access routed to a device by the ioreq server: an MMIO read or
// write inside a range the device claimed, or a PCI configuration-space
// access to the device's function. Decoded from an ioreq (src/device_model)
// or built by a test that plays the guest.

#include <cstdint>

namespace xenvhost::transport {

enum class AccessKind : uint8_t {
    kMmio,       // addr is the guest-physical address
    kPciConfig,  // addr is the register offset in the function's config space (0..4095)
};

struct IoAccess {
    AccessKind kind = AccessKind::kMmio;
    uint64_t addr = 0;
    uint8_t size = 0;  // 1, 2, 4 or 8; anything else is refused by the transport
    bool write = false;
    uint64_t data = 0;  // the value written (only the low `size` bytes count)
};

}  // namespace xenvhost::transport
