#pragma once
// What every queue of one disk shares: the open image, the request limits,
// the GET_ID answer, and the modes that change at run time.

#include "devices/blk/blk_backing_file.hpp"
#include "devices/blk/blk_request.hpp"

#include <linux/virtio_blk.h>

#include <array>
#include <atomic>
#include <cstdint>

namespace xenvhost::devices::blk {

struct BlkDisk {
    BackingFile file;
    RequestLimits limits;
    // The capacity may change at run time (the image grew); queue threads
    // read it here rather than from `limits`.
    std::atomic<uint64_t> capacity_sectors{0};
    std::array<uint8_t, VIRTIO_BLK_ID_BYTES> id{};  // serial, zero-padded
    bool null_io = false;  // BlkOptions::null_io; fixed before any queue exists
    // Reads and writes are copied in the queue thread (a memory-backed image
    // with IoPath::kAuto); fixed before any queue exists.
    bool inline_io = false;
    // Writeback cache (1) or writethrough (0): set by the driver through
    // CONFIG_WCE or the FLUSH feature, read by the queue threads.
    std::atomic<bool> writeback{true};
    // Learned from the file system: the first EOPNOTSUPP turns the fallocate
    // mode off for every queue, so later requests take the fallback at once.
    std::atomic<bool> punch_hole{true};
    std::atomic<bool> zero_range{true};
};

}  // namespace xenvhost::devices::blk
