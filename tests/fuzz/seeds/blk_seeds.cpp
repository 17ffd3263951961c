// fuzz_blk_request seeds: every virtio-blk request type, on 512-byte and
// 4 KiB blocks, read-only disks, split headers, and the malformed cases
// (unknown type, no status, sector overflow, huge writes, status aliasing
// the header).

#include "common/bytes.hpp"
#include "common/formats.hpp"
#include "seeds/seed_writer.hpp"
#include "seeds/target_seeds.hpp"

#include <linux/virtio_blk.h>

#include <algorithm>
#include <string>
#include <vector>

namespace xenvhost::fuzz::seeds {
namespace {

class BlkSeed {
public:
    BlkSeed(uint64_t capacity, uint8_t log2_block, bool ro, uint32_t max_discard, uint32_t max_wz, uint8_t nout,
            uint8_t nin) {
        w_.u64(capacity).u8(static_cast<uint8_t>(log2_block - 9)).u8(ro ? 1 : 0).u32(max_discard).u32(max_wz);
        w_.u8(nout).u8(nin);
    }
    BlkSeed& out(uint16_t len, const std::vector<uint8_t>& content = {}) {
        w_.u16(len);
        std::vector<uint8_t> c = content;
        c.resize(std::min<size_t>(len, 4096));
        w_.bytes(c);
        return *this;
    }
    BlkSeed& huge_out(uint16_t units, const std::vector<uint8_t>& content) {
        w_.u16(static_cast<uint16_t>(kBlkHuge | units));
        std::vector<uint8_t> c = content;
        c.resize(4096);
        w_.bytes(c);
        return *this;
    }
    BlkSeed& in(uint16_t spec) {
        w_.u16(spec);
        return *this;
    }
    const ByteWriter& writer() const { return w_; }

private:
    ByteWriter w_;
};

std::vector<uint8_t> outhdr(uint32_t type, uint64_t sector) { return raw(virtio_blk_outhdr{type, 0, sector}); }
std::vector<uint8_t> segment(uint64_t sector, uint32_t n, uint32_t flags) {
    return raw(virtio_blk_discard_write_zeroes{sector, n, flags});
}

}  // namespace

void blk_seeds() {
    const std::string t = "fuzz_blk_request";
    const uint64_t cap = 2048;  // 1 MiB
    write_seed(t, "read", BlkSeed(cap, 9, false, 0, 0, 1, 2).out(16, outhdr(VIRTIO_BLK_T_IN, 8)).in(4096).in(1).writer());
    write_seed(t, "read-4k-block",
               BlkSeed(cap, 12, false, 0, 0, 1, 3).out(16, outhdr(VIRTIO_BLK_T_IN, 8)).in(2048).in(2048).in(1).writer());
    write_seed(t, "write", BlkSeed(cap, 9, false, 0, 0, 2, 1).out(16, outhdr(VIRTIO_BLK_T_OUT, 2040)).out(4096).in(1).writer());
    write_seed(t, "write-split-header",
               BlkSeed(cap, 9, false, 0, 0, 3, 1).out(8, outhdr(VIRTIO_BLK_T_OUT, 0)).out(1032, {0, 0, 0, 0, 0, 0, 0, 0}).out(0).in(1).writer());
    write_seed(t, "write-read-only",
               BlkSeed(cap, 9, true, 0, 0, 2, 1).out(16, outhdr(VIRTIO_BLK_T_OUT, 0)).out(512).in(1).writer());
    write_seed(t, "flush", BlkSeed(cap, 9, false, 0, 0, 1, 1).out(16, outhdr(VIRTIO_BLK_T_FLUSH, 0)).in(1).writer());
    write_seed(t, "get-id", BlkSeed(cap, 9, false, 0, 0, 1, 2).out(16, outhdr(VIRTIO_BLK_T_GET_ID, 0)).in(20).in(1).writer());
    write_seed(t, "get-id-tiny", BlkSeed(cap, 9, false, 0, 0, 1, 1).out(16, outhdr(VIRTIO_BLK_T_GET_ID, 0)).in(4).writer());
    write_seed(t, "discard",
               BlkSeed(cap, 9, false, 0x3fffff, 0x3fffff, 1, 1)
                   .out(32, cat({outhdr(VIRTIO_BLK_T_DISCARD, 0), segment(16, 64, 0)}))
                   .in(1)
                   .writer());
    write_seed(t, "write-zeroes-unmap",
               BlkSeed(cap, 9, false, 0x3fffff, 0x3fffff, 2, 1)
                   .out(16, outhdr(VIRTIO_BLK_T_WRITE_ZEROES, 0))
                   .out(16, segment(2000, 48, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
                   .in(1)
                   .writer());
    write_seed(t, "discard-two-segments",
               BlkSeed(cap, 9, false, 0x3fffff, 0x3fffff, 1, 1)
                   .out(48, cat({outhdr(VIRTIO_BLK_T_DISCARD, 0), segment(0, 8, 0), segment(8, 8, 0)}))
                   .in(1)
                   .writer());
    write_seed(t, "unknown-type", BlkSeed(cap, 9, false, 0, 0, 1, 1).out(16, outhdr(99, 0)).in(1).writer());
    write_seed(t, "no-status", BlkSeed(cap, 9, false, 0, 0, 1, 0).out(16, outhdr(VIRTIO_BLK_T_IN, 0)).writer());
    write_seed(t, "sector-overflow",
               BlkSeed(~0ull >> 9, 9, false, 0, 0, 1, 2).out(16, outhdr(VIRTIO_BLK_T_IN, ~0ull - 1)).in(1024).in(1).writer());
    write_seed(t, "huge-write",
               BlkSeed(~0ull >> 9, 9, false, 0, 0, 1, 1).huge_out(0x100, outhdr(VIRTIO_BLK_T_OUT, 0)).in(1).writer());
    write_seed(t, "status-aliases-header",
               BlkSeed(cap, 9, false, 0, 0, 1, 1).out(16, outhdr(VIRTIO_BLK_T_FLUSH, 0)).in(kBlkAlias).writer());
}

}  // namespace xenvhost::fuzz::seeds
