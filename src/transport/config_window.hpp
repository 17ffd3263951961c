#pragma once
// The device-specific configuration space as a window of registers of any
// width (virtio 1.2 4.1.4.6, 4.2.2: little-endian, driver picks the width).
// Accesses that do not fit inside the device's config() are refused: reads
// give all ones, writes are dropped.

#include "transport/access_width.hpp"
#include "transport/guest_log.hpp"
#include "transport/virtio_device.hpp"

#include <cstdint>

namespace xenvhost::transport {

// `window` bounds the offsets the transport maps (e.g. 0x100 bytes for
// virtio-mmio), whatever the size of config().
uint64_t read_config(const VirtioDevice& device, uint64_t offset, unsigned size, uint64_t window, GuestLog& log);
void write_config(VirtioDevice& device, uint64_t offset, unsigned size, uint64_t data, uint64_t window,
                  GuestLog& log);

}  // namespace xenvhost::transport
