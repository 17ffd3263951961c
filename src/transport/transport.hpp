#pragma once
// A virtio transport as the guest sees it: virtio-pci (modern) or
// virtio-mmio version 2. It decodes the guest's register accesses, runs the
// virtio status machine and drives a VirtioDevice; the device's interrupts
// come back through the InterruptSink side. Guests are untrusted: a bad
// access is logged and ignored (reads give all ones), a bad sequence marks
// the device broken; nothing here aborts.

#include "transport/io_access.hpp"
#include "transport/virtio_device.hpp"

#include <cstdint>
#include <string>

namespace xenvhost::transport {

class Transport : public InterruptSink {
public:
    // Handles one access routed to this device; returns the value a read
    // gives (ignored for writes).
    virtual uint64_t access(const IoAccess& access) = 0;
    // The device is marked broken (DEVICE_NEEDS_RESET) until the driver resets it.
    virtual bool broken() const = 0;
    // For the status keys and logs: "pci 0000:00:03.0 intx A" or
    // "mmio 0x2000000 irq 33".
    virtual std::string describe() const = 0;
};

}  // namespace xenvhost::transport
