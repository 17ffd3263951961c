#pragma once
// One virtqueue's registers as the driver writes them (size, ring addresses,
// enable) and the checks both transports apply: a size the driver writes
// (a power of two within the device's maximum) and a queue at DRIVER_OK
// (that size again and rings aligned as virtio 1.2 2.7 asks: descriptor
// table 16, driver area 2, device area 4).

#include "base/error.hpp"
#include "transport/virtio_device.hpp"

#include <cstdint>

namespace xenvhost::transport {

struct QueueSetup {
    uint16_t size = 0;  // reset to the maximum: what the driver reads first
    bool enabled = false;
    uint64_t desc = 0;
    uint64_t driver = 0;
    uint64_t device = 0;
};

// The register halves of a 64-bit ring address.
void set_low_half(uint64_t& address, uint32_t value);
void set_high_half(uint64_t& address, uint32_t value);

// A queue size the driver may write: a power of two, 1..max.
Result<> check_queue_size(uint32_t size, uint16_t max);
// Everything DRIVER_OK needs of an enabled queue.
Result<> check_queue_ready(const QueueSetup& queue, uint16_t max);
QueueConfig queue_config(uint16_t index, const QueueSetup& queue);

}  // namespace xenvhost::transport
