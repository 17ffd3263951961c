#include "devices/blk/blk_config.hpp"

#include <endian.h>
#include <linux/virtio_config.h>

#include <algorithm>
#include <bit>
#include <limits>

namespace xenvhost::devices::blk {

namespace {
// VIRTIO_RING_F_*: <linux/virtio_ring.h> has inline helpers that are not valid C++.
constexpr unsigned kRingFIndirectDesc = 28;
constexpr unsigned kRingFEventIdx = 29;

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

uint32_t blocks(uint32_t bytes, uint32_t block) { return block ? bytes / block : 0; }
}  // namespace

DiskShape DiskShape::of(const BackingFile& f, uint16_t num_queues, uint16_t queue_size) {
    DiskShape s;
    s.capacity_sectors = f.capacity_sectors();
    s.logical_block_size = f.logical_block_size;
    s.physical_block_size = f.physical_block_size;
    s.min_io_size = f.min_io_size;
    s.opt_io_size = f.opt_io_size;
    s.alignment_offset = f.alignment_offset;
    s.read_only = f.read_only;
    s.num_queues = num_queues;
    s.queue_size = queue_size;
    return s;
}

uint64_t blk_features(const DiskShape& s) {
    uint64_t f = bit(VIRTIO_F_VERSION_1) | bit(kRingFIndirectDesc) |
                 bit(kRingFEventIdx) | bit(VIRTIO_BLK_F_SIZE_MAX) |
                 bit(VIRTIO_BLK_F_SEG_MAX) | bit(VIRTIO_BLK_F_BLK_SIZE) |
                 bit(VIRTIO_BLK_F_TOPOLOGY) | bit(VIRTIO_BLK_F_FLUSH) |
                 bit(VIRTIO_BLK_F_CONFIG_WCE);
    if (s.num_queues > 1) f |= bit(VIRTIO_BLK_F_MQ);
    if (s.read_only)
        f |= bit(VIRTIO_BLK_F_RO);
    else
        f |= bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES);
    return f;
}

virtio_blk_config make_blk_config(const DiskShape& s, bool writeback) {
    virtio_blk_config c{};
    const uint32_t lbs = s.logical_block_size;
    c.capacity = htole64(s.capacity_sectors);
    c.size_max = htole32(kSizeMax);
    // Two descriptors of every chain carry the header and the status.
    c.seg_max = htole32(s.queue_size > 2 ? s.queue_size - 2u : 1u);
    c.blk_size = htole32(lbs);
    c.physical_block_exp =
        static_cast<uint8_t>(std::countr_zero(std::max(s.physical_block_size / lbs, 1u)));
    c.alignment_offset = static_cast<uint8_t>(std::min(blocks(s.alignment_offset, lbs), 255u));
    uint32_t min_io = s.min_io_size ? blocks(s.min_io_size, lbs) : s.physical_block_size / lbs;
    c.min_io_size = htole16(static_cast<uint16_t>(
        std::clamp<uint32_t>(min_io, 1, std::numeric_limits<uint16_t>::max())));
    c.opt_io_size = htole32(blocks(s.opt_io_size, lbs));
    c.wce = writeback ? 1 : 0;
    c.num_queues = htole16(s.num_queues);
    c.max_discard_sectors = htole32(kMaxDiscardSectors);
    c.max_discard_seg = htole32(1);
    c.discard_sector_alignment = htole32(lbs / 512);
    c.max_write_zeroes_sectors = htole32(kMaxWriteZeroesSectors);
    c.max_write_zeroes_seg = htole32(1);
    c.write_zeroes_may_unmap = 1;
    return c;
}

std::optional<bool> parse_config_write(uint32_t offset, std::span<const uint8_t> data) {
    if (offset != kWceOffset || data.size() != 1 || data[0] > 1) return std::nullopt;
    return data[0] == 1;
}

}  // namespace xenvhost::devices::blk
