#pragma once
// The virtio-blk feature bits and config space (struct virtio_blk_config,
// little-endian) offered for one disk, and the one field a driver may write.

#include "devices/blk/blk_backing_file.hpp"

#include <linux/virtio_blk.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace xenvhost::devices::blk {

// Limits announced to the driver (and enforced by the request parser).
inline constexpr uint32_t kSizeMax = 1u << 20;              // bytes per segment
inline constexpr uint32_t kMaxDiscardSectors = 32768;       // 16 MiB per request,
inline constexpr uint32_t kMaxWriteZeroesSectors = 32768;   // as qemu-storage-daemon
static_assert(sizeof(virtio_blk_config) == 72, "unexpected <linux/virtio_blk.h>");

struct DiskShape {
    uint64_t capacity_sectors = 0;
    uint32_t logical_block_size = 512;
    uint32_t physical_block_size = 512;
    uint32_t min_io_size = 0;  // bytes
    uint32_t opt_io_size = 0;  // bytes
    uint32_t alignment_offset = 0;
    bool read_only = false;
    uint16_t num_queues = 1;
    uint16_t queue_size = 256;

    static DiskShape of(const BackingFile& f, uint16_t num_queues, uint16_t queue_size);
};

uint64_t blk_features(const DiskShape& shape);
virtio_blk_config make_blk_config(const DiskShape& shape, bool writeback);

// A driver write at `offset`: the new writeback (WCE) value if the write is
// exactly the wce byte with 0 or 1, nothing if it touches anything else.
std::optional<bool> parse_config_write(uint32_t offset, std::span<const uint8_t> data);

inline constexpr uint32_t kWceOffset = offsetof(virtio_blk_config, wce);

}  // namespace xenvhost::devices::blk
