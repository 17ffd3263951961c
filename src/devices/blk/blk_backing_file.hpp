#pragma once
// The image behind a disk: a regular file or a block device, opened once, with
// the facts the config space and the I/O path need (size, block sizes,
// whether O_DIRECT is in use and what alignment it demands).

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "devices/blk/blk_options.hpp"

#include <cstdint>
#include <string>

namespace xenvhost::devices::blk {

struct BackingFile {
    std::string path;
    // The fd I/O goes to: O_DIRECT when `direct`, buffered otherwise.
    UniqueFd fd;
    // A buffered fd on the same file, open only when `direct`: requests whose
    // buffers break the O_DIRECT alignment rules go here instead of failing.
    UniqueFd buffered_fd;
    bool direct = false;
    bool block_device = false;
    bool read_only = false;
    // On tmpfs or ramfs: the page cache is the image, so I/O never waits for
    // a device, and io_uring cannot do it without a hand-off to a kernel
    // worker thread (these file systems refuse non-blocking I/O).
    bool memory_backed = false;
    uint64_t size_bytes = 0;
    uint32_t logical_block_size = 512;   // the guest's blk_size
    uint32_t physical_block_size = 512;  // topology hint
    uint32_t min_io_size = 0;            // bytes, 0 if unknown
    uint32_t opt_io_size = 0;            // bytes, 0 if unknown
    uint32_t alignment_offset = 0;       // bytes
    // O_DIRECT rules (statx STATX_DIOALIGN, or the logical block size).
    uint32_t dio_mem_align = 512;
    uint32_t dio_offset_align = 512;

    // Capacity in 512-byte sectors, rounded down to whole logical blocks.
    uint64_t capacity_sectors() const;
};

// Opens `path` read-only or read-write with the given cache mode. Fails with a
// readable reason for a missing file, a directory, a device that is read-only
// when writing was asked for, or an image smaller than one block.
// With `given_fd` (not -1) nothing is opened: the fd (whose access mode must
// allow what read_only asks) is duplicated and served through the page cache.
Result<BackingFile> open_backing_file(const std::string& path, bool read_only, CacheMode cache, int given_fd = -1);

// The image's size now (it may have grown since it was opened).
Result<uint64_t> current_size(const BackingFile& file);

}  // namespace xenvhost::devices::blk
