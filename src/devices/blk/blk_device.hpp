#pragma once
// The virtio-blk device: a disk image served through per-queue io_uring
// handlers.

#include "base/error.hpp"
#include "devices/blk/blk_options.hpp"
#include "devices/device.hpp"

#include <memory>

namespace xenvhost::devices::blk {

// Opens the image and builds the device; a readable error if the options or
// the image are unusable.
Result<std::unique_ptr<Device>> make_blk_device(const BlkOptions& options);

}  // namespace xenvhost::devices::blk
