#pragma once
// What a virtio-blk device is built from: the image and the user's choices.

#include "base/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace xenvhost::devices::blk {

// How the image is opened. `writeback` goes through the page cache (the
// qemu-storage-daemon default); `none` uses O_DIRECT where the file system
// allows it and falls back to the page cache where it does not.
enum class CacheMode : uint8_t { kWriteback, kNone };

// How reads and writes reach the image. `auto` copies in the queue thread
// when the image is memory-backed (tmpfs, ramfs) and uses io_uring otherwise;
// `uring` always uses io_uring (for comparison).
enum class IoPath : uint8_t { kAuto, kUring };

struct BlkOptions {
    std::string path{};  // image file or block device
    int fd = -1;         // the image already open (not owned; duplicated): path only names it
    bool read_only = false;
    uint16_t num_queues = 1;
    uint16_t queue_size = 256;  // largest queue the front-end may choose
    std::string serial{};       // GET_ID answer, at most 20 bytes
    CacheMode cache = CacheMode::kWriteback;
    // Reads, writes, flushes, discards and write-zeroes complete OK without
    // touching the image: the limit of the rest of the path, for benchmarks.
    bool null_io = false;
    IoPath io_path = IoPath::kAuto;
};

// "none" or "writeback"; a clear error for anything else.
Result<CacheMode> parse_cache_mode(std::string_view text);
std::string_view cache_mode_name(CacheMode mode);

// "auto" or "uring"; a clear error for anything else.
Result<IoPath> parse_io_path(std::string_view text);

// Checks ranges and lengths; the error names the offending option.
Result<> validate_options(const BlkOptions& options);

}  // namespace xenvhost::devices::blk
