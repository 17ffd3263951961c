// fuzz_chain seeds: valid rings (direct, indirect, across regions), then
// loops, full rings and a driver rewriting descriptors between walks.

#include "common/bytes.hpp"
#include "common/formats.hpp"
#include "seeds/ring_bytes.hpp"
#include "seeds/seed_writer.hpp"
#include "seeds/target_seeds.hpp"

#include <string>
#include <vector>

namespace xenvhost::fuzz::seeds {
namespace {

const std::string kTarget = "fuzz_chain";

class ChainSeed {
public:
    struct Region {
        uint32_t gpa_page;
        uint8_t pages;
        uint32_t file_offset;
    };
    ChainSeed(uint8_t flags, uint8_t log2, const std::vector<Region>& regions, uint64_t desc, uint64_t av,
              uint64_t used, uint16_t last_avail = 0) {
        w_.u8(flags).u8(log2).u8(static_cast<uint8_t>(regions.size() - 1));
        for (const auto& r : regions) w_.u32(r.gpa_page).u8(static_cast<uint8_t>(r.pages - 1)).u32(r.file_offset);
        w_.u64(desc).u64(av).u64(used).u16(last_avail);
    }
    // Writes at a memfd offset (the regions decide which guest address that is).
    ChainSeed& poke(uint32_t file_offset, const std::vector<uint8_t>& bytes) {
        w_.u8(chain_op::kPoke).u32(file_offset).blob(bytes);
        return *this;
    }
    ChainSeed& op(uint8_t o) {
        w_.u8(o);
        return *this;
    }
    ChainSeed& walk(uint16_t head) {
        w_.u8(chain_op::kWalk).u16(head);
        return *this;
    }
    const ByteWriter& writer() const { return w_; }

private:
    ByteWriter w_;
};

// One region: gpa 0 = memfd 0, 32 pages; ring of 64 at 0x1000/0x1400/0x2000.
const std::vector<ChainSeed::Region> kOne{{0, 32, 0}};

void direct() {
    ChainSeed s(0, 6, kOne, 0x1000, 0x1400, 0x2000);
    s.poke(0x1000, cat({desc(0x4000, 16, virtio::kDescFNext, 1),
                        desc(0x5000, 4096, virtio::kDescFNext | virtio::kDescFWrite, 2),
                        desc(0x6000, 1, virtio::kDescFWrite, 0)}));
    s.poke(0x1400, avail_bytes({0}, 1));
    s.op(chain_op::kProcess);
    s.poke(0x1400, avail_bytes({0, 0}, 2));
    s.op(chain_op::kProcess).op(chain_op::kArmKick).op(chain_op::kRemap);
    write_seed(kTarget, "direct", s.writer());
}

// Indirect table, event idx, a second chain of one descriptor.
void indirect_event_idx() {
    ChainSeed s(3, 6, kOne, 0x1000, 0x1400, 0x2000);
    s.poke(0x3000, cat({desc(0x4000, 16, virtio::kDescFNext, 1), desc(0x5000, 512, virtio::kDescFNext, 2),
                        desc(0x6000, 1, virtio::kDescFWrite, 0)}));
    s.poke(0x1000, cat({desc(0x3000, 48, virtio::kDescFIndirect, 0), desc(0x7000, 100, 0, 0)}));
    s.poke(0x1400, avail_bytes({0, 1}, 2));
    s.op(chain_op::kProcess).op(chain_op::kArmKick);
    write_seed(kTarget, "indirect-event-idx", s.writer());
}

// Two adjacent regions at different memfd offsets, a buffer and an
// indirect table straddling the boundary, and a third region past a gap.
void regions_straddle() {
    const std::vector<ChainSeed::Region> three{{0, 8, 0}, {8, 8, 0x10000}, {0x100, 4, 0x8000}};
    ChainSeed s(1, 4, three, 0x1000, 0x1200, 0x1400);
    // Guest 0x7ff0 is memfd 0x7ff0 (region 0); guest 0x8000 is memfd 0x10000 (region 1).
    s.poke(0x7ff0, desc(0x100000, 16, virtio::kDescFNext, 1));
    s.poke(0x10000, cat({desc(0x7f00, 0x200, virtio::kDescFNext | virtio::kDescFWrite, 2),
                         desc(0x100100, 1, virtio::kDescFWrite, 0)}));
    s.poke(0x1000, desc(0x7ff0, 48, virtio::kDescFIndirect, 0));
    s.poke(0x1200, avail_bytes({0}, 1));
    s.op(chain_op::kProcess);
    write_seed(kTarget, "regions-straddle", s.writer());
}

// A loop (0 -> 1 -> 0), a chain longer than the ring, then the driver
// rewrites the descriptor between two walks.
void loop_and_rewrite() {
    ChainSeed s(0, 2, kOne, 0x1000, 0x1400, 0x2000);
    s.poke(0x1000, cat({desc(0x4000, 8, virtio::kDescFNext, 1), desc(0x5000, 8, virtio::kDescFNext, 0)}));
    s.walk(0);
    s.poke(0x1010, desc(0x5000, 8, virtio::kDescFWrite, 0));
    s.walk(0).walk(1).walk(9);
    s.poke(0x1400, avail_bytes({0, 1, 0, 1}, 4));
    s.op(chain_op::kProcess);
    write_seed(kTarget, "loop-and-rewrite", s.writer());
}

// Full ring (avail == size), then an index that jumps past the ring.
void full_ring() {
    ChainSeed s(0, 2, kOne, 0x1000, 0x1400, 0x2000);
    s.poke(0x1000, cat({desc(0x4000, 8, 0, 0), desc(0x4100, 8, 0, 0), desc(0x4200, 8, 0, 0),
                        desc(0x4300, 8, 0, 0)}));
    s.poke(0x1400, avail_bytes({0, 1, 2, 3}, 4));
    s.op(chain_op::kProcess);
    s.poke(0x1400, avail_bytes({0, 1, 2, 3}, 13));
    s.op(chain_op::kProcess);
    write_seed(kTarget, "full-ring", s.writer());
}

// Reproducer: a region mapped from memfd offset 2, so aligned guest
// addresses land on misaligned host addresses.
void crash_misaligned_mmap_offset() {
    ChainSeed s(0, 3, {{0, 16, 2}}, 0x1000, 0x1200, 0x1400);
    write_seed(kTarget, "crash-ring-misaligned-mmap-offset", s.writer(), "crash");
}

}  // namespace

void chain_seeds() {
    direct();
    indirect_event_idx();
    regions_straddle();
    loop_and_rewrite();
    full_ring();
    crash_misaligned_mmap_offset();
}

}  // namespace xenvhost::fuzz::seeds
