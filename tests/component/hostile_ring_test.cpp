// A broken or malicious guest driver: bad avail indices and heads, looping
// and out-of-range chains, bad indirect tables, buffers outside guest memory
// (§5.2 items 9-11).
#include "hostile_fixture.hpp"

#include "frontend/virtio_ring.hpp"

#include <thread>

namespace xenvhost::component {
namespace {

constexpr uint64_t MiB = 1ull << 20;
class HostileRing : public HostileTest {
protected:
    // Writes an indirect table into the queue's scratch space and submits
    // it through one ring descriptor whose length is `table_len`.
    GuestOutcome run_indirect(BlkSession& s, const std::vector<vring_desc>& table,
                              uint32_t table_len, uint32_t writable,
                              std::optional<uint64_t> status, bool* ok_setup) {
        SplitQueue& q = s.queue(0);
        *ok_setup = false;
        size_t bytes = table.size() * sizeof(vring_desc);
        if (bytes > q.scratch_size()) return {};
        auto w = s.memory().write(
            q.scratch_gpa(),
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(table.data()), bytes));
        if (!w) return {};
        auto ids = q.raw_take_descriptors(1);
        if (!ids) return {};
        q.desc_table()[(*ids)[0]] = {q.scratch_gpa(), table_len, VRING_DESC_F_INDIRECT, 0};
        *ok_setup = true;
        return run_raw(s, (*ids)[0], 1, writable, status);
    }
};

// Header, data buffer and status byte for a hand-made request.
struct Parts {
    uint64_t hdr = 0, data = 0, status = 0;
};

Result<Parts> parts(GuestMemory& mem, uint32_t type, uint64_t sector, uint32_t data_len,
                    std::optional<size_t> region = {}) {
    Parts p;
    auto h = mem.alloc(16, 16, region);
    auto d = mem.alloc(std::max<uint32_t>(data_len, 1), 4096, region);
    auto st = mem.alloc(1, 1, region);
    if (!h || !d || !st) return fail("no guest memory for a request");
    p.hdr = *h;
    p.data = *d;
    p.status = *st;
    virtio_blk_outhdr hdr{type, 0, sector};
    if (auto r = mem.write(p.hdr, bytes_of(hdr)); !r) return std::unexpected(r.error());
    return p;
}

// Takes `n` descriptors and writes `descs` into them; `next` fields in
// `descs` are positions in the list and are rewritten to descriptor ids
// (values >= n are kept as they are, to point outside the chain).
Result<std::vector<uint16_t>> write_chain(SplitQueue& q, std::vector<vring_desc> descs) {
    auto ids = q.raw_take_descriptors(static_cast<unsigned>(descs.size()));
    if (!ids) return ids;
    for (size_t i = 0; i < descs.size(); ++i) {
        vring_desc d = descs[i];
        if (d.next < descs.size()) d.next = (*ids)[d.next];
        q.desc_table()[(*ids)[i]] = d;
    }
    return ids;
}

constexpr uint16_t N = VRING_DESC_F_NEXT;
constexpr uint16_t W = VRING_DESC_F_WRITE;

TEST_F(HostileRing, AvailIndexJumpsPastQueueSize) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    SplitQueue& q = s->queue(0);
    q.raw_set_avail_idx(static_cast<uint16_t>(q.avail_idx() + q.size() + 1));
    q.kick();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(q.used_idx(), 0) << "the back-end completed entries it was never given";
    s.reset();
    expect_alive("avail idx jump");
}

TEST_F(HostileRing, HeadOutOfRange) {
    for (uint16_t head : {uint16_t{128}, uint16_t{0xffff}}) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, open());
        SplitQueue& q = s->queue(0);
        q.raw_push_avail(head);
        q.publish();
        q.kick();
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        EXPECT_EQ(q.used_idx(), 0) << "head " << head << " was completed";
        s.reset();
        expect_alive("head out of range");
    }
}

TEST_F(HostileRing, DescriptorLoops) {
    for (int variant = 0; variant < 2; ++variant) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, open());
        Parts p;
        ASSERT_OK_AND_ASSIGN(p, parts(s->memory(), VIRTIO_BLK_T_IN, 0, 4096));
        std::vector<vring_desc> descs =
            variant == 0 ? std::vector<vring_desc>{{p.hdr, 16, N, 0}}                 // self
                         : std::vector<vring_desc>{{p.hdr, 16, N, 1}, {p.data, 4096, N | W, 0}};
        std::vector<uint16_t> ids;
        ASSERT_OK_AND_ASSIGN(ids, write_chain(s->queue(0), descs));
        auto o = run_raw(*s, ids[0], static_cast<uint16_t>(ids.size()), 4096, p.status);
        expect_queue_stopped(variant == 0 ? "descriptor pointing at itself" : "A->B->A loop", o);
        s.reset();
    }
}

TEST_F(HostileRing, NextOutOfRange) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    Parts p;
    ASSERT_OK_AND_ASSIGN(p, parts(s->memory(), VIRTIO_BLK_T_IN, 0, 4096));
    std::vector<uint16_t> ids;
    ASSERT_OK_AND_ASSIGN(ids, write_chain(s->queue(0), {{p.hdr, 16, N, 0},
                                                        {p.data, 4096, N | W, 133}}));
    auto o = run_raw(*s, ids[0], 2, 4096, p.status);
    expect_queue_stopped("next >= queue size", o);
}

TEST_F(HostileRing, IndirectTableLoop) {
    // A chain inside one indirect table that never ends: longer than the
    // queue and than the table.
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    Parts p;
    ASSERT_OK_AND_ASSIGN(p, parts(s->memory(), VIRTIO_BLK_T_IN, 0, 4096));
    std::vector<vring_desc> table{{p.hdr, 16, N, 1}, {p.data, 4096, N | W, 2}, {p.status, 1, N | W, 0}};
    bool ok = false;
    auto o = run_indirect(*s, table, 48, 4097, p.status, &ok);
    ASSERT_TRUE(ok);
    expect_queue_stopped("loop inside an indirect table", o);
}

TEST_F(HostileRing, NestedIndirect) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    Parts p;
    ASSERT_OK_AND_ASSIGN(p, parts(s->memory(), VIRTIO_BLK_T_IN, 0, 4096));
    uint64_t inner;
    ASSERT_OK_AND_ASSIGN(inner, s->memory().alloc(48, 16));
    vring_desc inner_table[3] = {{p.hdr, 16, N, 1}, {p.data, 4096, N | W, 2}, {p.status, 1, W, 0}};
    ASSERT_OK(s->memory().write(inner, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(inner_table), 48)));
    std::vector<vring_desc> table{{inner, 48, VRING_DESC_F_INDIRECT, 0}};
    bool ok = false;
    auto o = run_indirect(*s, table, 16, 4097, p.status, &ok);
    ASSERT_TRUE(ok);
    expect_queue_stopped("indirect table inside an indirect table", o);
}

TEST_F(HostileRing, IndirectLengthNotMultipleOf16) {
    for (uint32_t len : {24u, 0u, 8u}) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, open());
        Parts p;
        ASSERT_OK_AND_ASSIGN(p, parts(s->memory(), VIRTIO_BLK_T_IN, 0, 4096));
        std::vector<vring_desc> table{{p.hdr, 16, N, 1}, {p.data, 4096, N | W, 2}, {p.status, 1, W, 0}};
        bool ok = false;
        auto o = run_indirect(*s, table, len, 4097, p.status, &ok);
        ASSERT_TRUE(ok);
        expect_queue_stopped("indirect table of " + std::to_string(len) + " bytes", o);
        s.reset();
    }
}

TEST_F(HostileRing, IndirectChainLongerThanQueue) {
    // 18 descriptors in one table on a 16-entry queue. Either refused, or
    // served correctly.
    SessionOptions o = default_session();
    o.queue_size = 16;
    o.blk.depth = 4;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    Parts p;
    ASSERT_OK_AND_ASSIGN(p, parts(s->memory(), VIRTIO_BLK_T_IN, 64, 16 * 512));
    std::vector<vring_desc> table{{p.hdr, 16, N, 1}};
    for (uint16_t i = 0; i < 16; ++i)
        table.push_back({p.data + i * 512u, 512, static_cast<uint16_t>(N | W), static_cast<uint16_t>(i + 2)});
    table.push_back({p.status, 1, W, 0});
    bool ok = false;
    auto out = run_indirect(*s, table, static_cast<uint32_t>(table.size() * 16), 8193,
                            p.status, &ok);
    ASSERT_TRUE(ok);
    EXPECT_TRUE(out.error.empty()) << out.error;
    if (out.completed && out.status == VIRTIO_BLK_S_OK) {
        std::vector<uint8_t> got(8192);
        ASSERT_OK(s->memory().read(p.data, got));
        EXPECT_EQ(first_difference(got, original(64 * kSectorSize, 8192)), -1);
    }
    expect_alive("indirect chain longer than the queue");
}

TEST_F(HostileRing, BuffersOutsideGuestMemory) {
    // r0 [0,16M), gap, r1 [64M,80M)
    struct Case { const char* name; uint64_t addr; uint32_t len; int which; };
    const Case cases[] = {
        {"data in the gap", 32 * MiB, 4096, 1},
        {"data past the last region", 200 * MiB, 4096, 1},
        {"data running from a region into the gap", 16 * MiB - 2048, 4096, 1},
        {"data address overflow", 0xfffffffffffff000ull, 0x2000, 1},
        {"header in the gap", 32 * MiB, 16, 0},
        {"status in the gap", 32 * MiB, 1, 2},
    };
    for (const Case& k : cases) {
        SessionOptions o = default_session();
        o.regions = {{0, 16 * MiB}, {64 * MiB, 16 * MiB}};
        o.blk.depth = 8;
        o.blk.max_data = 64 * 1024;
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, open(o));
        Parts p;
        ASSERT_OK_AND_ASSIGN(p, parts(s->memory(), VIRTIO_BLK_T_IN, 0, 4096, 1));
        std::vector<vring_desc> d{{p.hdr, 16, N, 1}, {p.data, 4096, N | W, 2}, {p.status, 1, W, 0}};
        d[k.which].addr = k.addr;
        d[k.which].len = k.len;
        std::vector<uint16_t> ids;
        ASSERT_OK_AND_ASSIGN(ids, write_chain(s->queue(0), d));
        auto out = run_raw(*s, ids[0], 3, d[1].len + 1, k.which == 2 ? std::nullopt
                                                                       : std::optional(p.status));
        expect_queue_stopped(k.name, out);
        s.reset();
    }
}

TEST_F(HostileRing, ZeroLengthDescriptorWithBadAddress) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    Parts p;
    ASSERT_OK_AND_ASSIGN(p, parts(s->memory(), VIRTIO_BLK_T_IN, 128, 4096));
    std::vector<uint16_t> ids;
    ASSERT_OK_AND_ASSIGN(ids, write_chain(s->queue(0), {{p.hdr, 16, N, 1},
                                                        {p.data, 4096, N | W, 2},
                                                        {0xdead00000000ull, 0, N | W, 3},
                                                        {p.status, 1, W, 0}}));
    auto o = run_raw(*s, ids[0], 4, 4097, p.status);
    EXPECT_TRUE(o.error.empty()) << o.error;
    if (o.completed && o.status == VIRTIO_BLK_S_OK) {
        std::vector<uint8_t> got(4096);
        ASSERT_OK(s->memory().read(p.data, got));
        EXPECT_EQ(first_difference(got, original(128 * kSectorSize, 4096)), -1);
    }
    expect_alive("zero-length descriptor with a bad address");
}

TEST_F(HostileRing, ReadableAfterWritable) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    Parts p;
    ASSERT_OK_AND_ASSIGN(p, parts(s->memory(), VIRTIO_BLK_T_IN, 0, 4096));
    std::vector<uint16_t> ids;
    ASSERT_OK_AND_ASSIGN(ids, write_chain(s->queue(0), {{p.hdr, 16, N, 1},
                                                        {p.data, 2048, N | W, 2},
                                                        {p.data + 2048, 2048, N, 3},
                                                        {p.status, 1, W, 0}}));
    auto o = run_raw(*s, ids[0], 4, 2049, p.status);
    expect_queue_stopped("driver-readable descriptor after a device-writable one", o);
}

TEST_F(HostileRing, CumulativeLengthOver4GiB) {
    // 260 descriptors of 16 MiB each, all on one buffer: > 4 GiB in total.
    SessionOptions so = default_session();
    so.memory_size = 64 * MiB;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(so));
    Parts p;
    ASSERT_OK_AND_ASSIGN(p, parts(s->memory(), VIRTIO_BLK_T_IN, 0, 16 * MiB));
    std::vector<vring_desc> table{{p.hdr, 16, N, 1}};
    for (uint16_t i = 0; i < 260; ++i)
        table.push_back({p.data, 16 * MiB, N | W, static_cast<uint16_t>(i + 2)});
    table.push_back({p.status, 1, W, 0});
    bool ok = false;
    auto o = run_indirect(*s, table, static_cast<uint32_t>(table.size() * 16), ~0u,
                          p.status, &ok);
    ASSERT_TRUE(ok);
    expect_queue_stopped("chain of more than 4 GiB", o);
}

TEST_F(HostileRing, StatusNotWritable) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    Parts p;
    ASSERT_OK_AND_ASSIGN(p, parts(s->memory(), VIRTIO_BLK_T_IN, 0, 4096));
    std::vector<uint16_t> ids;
    ASSERT_OK_AND_ASSIGN(ids, write_chain(s->queue(0), {{p.hdr, 16, N, 1},
                                                        {p.data, 4096, N | W, 2},
                                                        {p.status, 1, 0, 0}}));
    auto o = run_raw(*s, ids[0], 3, 4096, p.status);
    expect_queue_stopped("read-only status descriptor", o);
}

TEST_F(HostileRing, HeaderTooShortOrMissing) {
    for (int variant = 0; variant < 3; ++variant) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, open());
        Parts p;
        ASSERT_OK_AND_ASSIGN(p, parts(s->memory(), VIRTIO_BLK_T_IN, 0, 4096));
        std::vector<vring_desc> d;
        if (variant == 0) d = {{p.hdr, 8, N, 1}, {p.data, 4096, N | W, 2}, {p.status, 1, W, 0}};
        if (variant == 1) d = {{p.status, 1, W, 0}};
        if (variant == 2) d = {{p.hdr, 16, 0, 0}};
        std::vector<uint16_t> ids;
        ASSERT_OK_AND_ASSIGN(ids, write_chain(s->queue(0), d));
        uint32_t writable = variant == 0 ? 4097 : variant == 1 ? 1 : 0;
        auto o = run_raw(*s, ids[0], static_cast<uint16_t>(d.size()), writable, p.status);
        expect_request_failed(variant == 0   ? "8-byte header"
                           : variant == 1 ? "status only"
                                          : "header only, no status",
                           o);
        s.reset();
    }
}

}  // namespace
}  // namespace xenvhost::component
