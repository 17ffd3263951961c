// fuzz_queue_engine seeds: requests completed out of order, a revoked page
// under EVENT_IDX, guest faults.

#include "common/bytes.hpp"
#include "common/formats.hpp"
#include "seeds/ring_bytes.hpp"
#include "seeds/seed_writer.hpp"
#include "seeds/target_seeds.hpp"

#include <string>
#include <vector>

namespace xenvhost::fuzz::seeds {
namespace {

const std::string kTarget = "fuzz_queue_engine";

class EngineSeed {
public:
    EngineSeed(uint8_t flags, uint8_t log2, uint32_t desc, uint32_t av, uint32_t used, uint8_t revoked_page = 0,
               uint8_t revoked_pages = 0) {
        w_.u8(flags).u8(log2).u32(desc).u32(av).u32(used).u16(0).u8(revoked_page).u8(revoked_pages);
    }
    EngineSeed& poke(uint32_t gpa, const std::vector<uint8_t>& bytes) {
        w_.u8(engine_op::kPoke).u32(gpa).blob(bytes);
        return *this;
    }
    EngineSeed& op(uint8_t o) {
        w_.u8(o);
        return *this;
    }
    EngineSeed& complete(uint16_t pick, uint32_t written) {
        w_.u8(engine_op::kComplete).u16(pick).u32(written);
        return *this;
    }
    const ByteWriter& writer() const { return w_; }

private:
    ByteWriter w_;
};

// Three 4 KiB reads (header, data, status) at heads 0, 3, 6 of a ring of 16.
void reads(EngineSeed& s) {
    for (uint16_t h = 0; h < 3; ++h) {
        const uint64_t a = 0x4000 + h * 0x3000;
        const auto d = static_cast<uint16_t>(3 * h);
        s.poke(0x1000 + 16 * d,
               cat({desc(a, 16, virtio::kDescFNext, static_cast<uint16_t>(d + 1)),
                    desc(a + 0x1000, 4096, virtio::kDescFNext | virtio::kDescFWrite, static_cast<uint16_t>(d + 2)),
                    desc(a + 0x2000, 1, virtio::kDescFWrite, 0)}));
    }
}

void out_of_order() {
    EngineSeed s(0, 4, 0x1000, 0x2000, 0x3000);
    reads(s);
    s.poke(0x2000, avail_bytes({0, 3, 6}, 3));
    s.op(engine_op::kProcess).complete(1, 4097).complete(0, 1).op(engine_op::kPublish);
    s.complete(0, 4096).op(engine_op::kPublish).op(engine_op::kRemap).op(engine_op::kStop);
    write_seed(kTarget, "out-of-order", s.writer());
}

// EVENT_IDX, the device answering unmapped requests, head 3's data page revoked.
void revoked_event_idx() {
    EngineSeed s(6, 4, 0x1000, 0x2000, 0x3000, 8, 1);
    reads(s);
    s.poke(0x2000, avail_bytes({0, 3, 6}, 3));
    s.op(engine_op::kProcess).complete(0, 1).complete(0, 1).complete(0, 1).op(engine_op::kPublish);
    s.poke(0x2000, avail_bytes({0, 3, 6, 0}, 4));
    s.op(engine_op::kProcess).op(engine_op::kPublish);
    write_seed(kTarget, "revoked-event-idx", s.writer());
}

// A head made available twice while in flight, then a buffer outside guest memory.
void guest_faults() {
    EngineSeed s(1, 3, 0x1000, 0x2000, 0x3000);
    reads(s);
    s.poke(0x2000, avail_bytes({0, 0}, 2));
    s.op(engine_op::kProcess).complete(0, 0).op(engine_op::kPublish);
    s.poke(0x1000 + 16 * 3, desc(0x7fff0000, 16, 0, 0));
    s.poke(0x2000, avail_bytes({0, 0, 3}, 3));
    s.op(engine_op::kProcess).op(engine_op::kPublish);
    write_seed(kTarget, "guest-faults", s.writer());
}

}  // namespace

void engine_seeds() {
    out_of_order();
    revoked_event_idx();
    guest_faults();
}

}  // namespace xenvhost::fuzz::seeds
