// Guest memory layouts, buffers across regions, and memory tables that
// change while the queues run.
#include "fixture.hpp"

#include "frontend/virtio_ring.hpp"

#include <map>

namespace xenvhost::component {
namespace {

namespace pf = vhost_user::protocol_feature;
using MemoryTest = BackendTest;

constexpr uint64_t MiB = 1ull << 20;

// r0 [0,8M)  gap  r1 [16M,24M) r2 [24M,32M)  gap  r3 [64M,72M)
// Rings in r3, slot buffers in r1, r1/r2 adjacent for straddling buffers.
SessionOptions multi_region(Backing backing) {
    SessionOptions o = default_session();
    o.regions = {{0, 8 * MiB}, {16 * MiB, 8 * MiB}, {24 * MiB, 8 * MiB}, {64 * MiB, 8 * MiB}};
    o.backing = backing;
    o.ring_region = 3;
    o.blk.region = 1;
    o.blk.depth = 16;
    o.blk.max_data = 64 * 1024;
    return o;
}

class LayoutTest : public BackendTest, public ::testing::WithParamInterface<Backing> {};

TEST_P(LayoutTest, IoWithRegionsGapsAndOffsets) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(multi_region(GetParam())));
    if (GetParam() == Backing::kSharedMemfd) {
        ASSERT_NE(s->memory().regions()[1].mmap_offset, 0u);
    }
    verified_io(s->blk(0), 17000, 65536, 31);
    // A data buffer that starts in r1 and ends in r2.
    uint64_t gpa;
    ASSERT_OK_AND_ASSIGN(gpa, s->memory().alloc_straddling(1, 65536, 20000));
    auto data = random_bytes(32, 65536);
    BlkCommand w = BlkCommand::out(17200, data);
    w.data_gpa = gpa;
    BlkCompletion c;
    ASSERT_OK_AND_ASSIGN(c, s->blk(0).run(w));
    ASSERT_EQ(c.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(first_difference(file_bytes(17200 * kSectorSize, data.size()), data), -1);
    ASSERT_OK(s->memory().fill(gpa, 65536, 0));
    BlkCommand r = BlkCommand::in(17200, 65536);
    r.data_gpa = gpa;
    std::vector<uint8_t> back;
    ASSERT_OK_AND_ASSIGN(c, s->blk(0).run(r, &back));
    ASSERT_EQ(c.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(first_difference(back, data), -1);
}

INSTANTIATE_TEST_SUITE_P(Backing, LayoutTest,
                         ::testing::Values(Backing::kSeparateMemfds, Backing::kSharedMemfd),
                         [](const auto& info) {
                             return info.param == Backing::kSharedMemfd ? "SharedMemfd"
                                                                        : "SeparateMemfds";
                         });

TEST_F(MemoryTest, IndirectTableAcrossRegions) {
    SessionOptions o = multi_region(Backing::kSeparateMemfds);
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    if (!(s->acked_features() & vhost_user::bit(VIRTIO_RING_F_INDIRECT_DESC)))
        GTEST_SKIP() << "no INDIRECT_DESC";
    GuestMemory& mem = s->memory();
    SplitQueue& q = s->queue(0);
    uint64_t table, hdr, buf;
    // 3 entries (48 bytes): the first 16 in r1, the rest in r2.
    ASSERT_OK_AND_ASSIGN(table, mem.alloc_straddling(1, 48, 32));
    ASSERT_OK_AND_ASSIGN(hdr, mem.alloc(16, 16, 0));
    ASSERT_OK_AND_ASSIGN(buf, mem.alloc(4096 + 1, 4096, 0));
    virtio_blk_outhdr h{VIRTIO_BLK_T_IN, 0, 18000};
    ASSERT_OK(mem.write(hdr, bytes_of(h)));
    ASSERT_OK(mem.fill(buf + 4096, 1, 0xff));
    vring_desc entries[3] = {{hdr, 16, VRING_DESC_F_NEXT, 1},
                             {buf, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2},
                             {buf + 4096, 1, VRING_DESC_F_WRITE, 0}};
    ASSERT_OK(mem.write(table, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(entries), 48)));
    std::vector<uint16_t> d;
    ASSERT_OK_AND_ASSIGN(d, q.raw_take_descriptors(1));
    q.desc_table()[d[0]] = {table, 48, VRING_DESC_F_INDIRECT, 0};
    q.raw_submit(d[0], 1, 4097);
    q.publish_and_kick();
    std::optional<UsedElem> u;
    ASSERT_OK_AND_ASSIGN(u, q.wait_used(10000));
    ASSERT_TRUE(u) << "request with an indirect table across regions not completed";
    std::vector<uint8_t> got(4097);
    ASSERT_OK(mem.read(buf, got));
    EXPECT_EQ(got[4096], VIRTIO_BLK_S_OK);
    got.resize(4096);
    EXPECT_EQ(first_difference(got, original(18000 * kSectorSize, 4096)), -1);
}

TEST_F(MemoryTest, TableReplacedWhileQueuesRun) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    verified_io(s->blk(0), 19000, 16384, 41);
    // Memory hotplug: a new region, and the whole table sent again.
    size_t idx;
    ASSERT_OK_AND_ASSIGN(idx, s->memory().add_region({1ull << 30, 8 * MiB}));
    ASSERT_OK(s->client().set_mem_table(s->memory()));
    verified_io(s->blk(0), 19100, 16384, 42);
    uint64_t gpa;
    ASSERT_OK_AND_ASSIGN(gpa, s->memory().alloc(65536, 4096, idx));
    auto data = random_bytes(43, 65536);
    BlkCommand w = BlkCommand::out(19200, data);
    w.data_gpa = gpa;
    BlkCompletion c;
    ASSERT_OK_AND_ASSIGN(c, s->blk(0).run(w));
    ASSERT_EQ(c.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(first_difference(file_bytes(19200 * kSectorSize, data.size()), data), -1);
    BlkCommand r = BlkCommand::in(19200, 65536);
    r.data_gpa = gpa;
    ASSERT_OK(s->memory().fill(gpa, 65536, 0));
    std::vector<uint8_t> back;
    ASSERT_OK_AND_ASSIGN(c, s->blk(0).run(r, &back));
    ASSERT_EQ(c.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(first_difference(back, data), -1);
}

TEST_F(MemoryTest, TableReplacedWithRequestsInFlight) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    std::map<uint64_t, std::vector<uint8_t>> written;
    for (unsigned i = 0; i < 32; ++i) {
        uint64_t sector = 20000 + i * 64;
        written[sector] = random_bytes(sector, 32768);
        ASSERT_OK(s->blk(0).submit(BlkCommand::out(sector, written[sector])));
    }
    s->blk(0).flush();
    ASSERT_OK_AND_ASSIGN(size_t idx, s->memory().add_region({2ull << 30, 4 * MiB}));
    (void)idx;
    ASSERT_OK(s->client().set_mem_table(s->memory()));
    size_t done = 0;
    while (done < 32) {
        std::vector<BlkCompletion> cs;
        ASSERT_OK_AND_ASSIGN(cs, s->blk(0).poll(10000, 32 - done));
        ASSERT_FALSE(cs.empty()) << "stalled after " << done << " completions";
        for (const auto& c : cs) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK);
        done += cs.size();
    }
    for (const auto& [sector, data] : written)
        EXPECT_EQ(first_difference(file_bytes(sector * kSectorSize, data.size()), data), -1);
    verified_io(s->blk(0), 23000, 4096, 44);
}

TEST_F(MemoryTest, AddAndRemoveMemReg) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    if (!s->has_protocol(pf::kConfigureMemSlots)) {
        ASSERT_FALSE(is_worker());
        GTEST_SKIP() << "no CONFIGURE_MEM_SLOTS";
    }
    size_t idx;
    ASSERT_OK_AND_ASSIGN(idx, s->memory().add_region({1ull << 32, 8 * MiB}));
    ASSERT_OK(s->client().add_mem_reg(region_message(s->memory().regions()[idx])));
    uint64_t gpa;
    ASSERT_OK_AND_ASSIGN(gpa, s->memory().alloc(65536, 4096, idx));
    auto data = random_bytes(51, 65536);
    BlkCommand w = BlkCommand::out(24000, data);
    w.data_gpa = gpa;
    BlkCompletion c;
    ASSERT_OK_AND_ASSIGN(c, s->blk(0).run(w));
    ASSERT_EQ(c.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(first_difference(file_bytes(24000 * kSectorSize, data.size()), data), -1);

    ASSERT_OK(s->client().rem_mem_reg(region_message(s->memory().regions()[idx])));
    // The original region keeps serving.
    verified_io(s->blk(0), 24200, 8192, 52);
    // A buffer in the removed region must not be served.
    BlkCommand r = BlkCommand::in(24000, 4096);
    r.data_gpa = gpa;
    ASSERT_OK(s->blk(0).submit(r));
    s->blk(0).flush();
    std::vector<BlkCompletion> cs;
    ASSERT_OK_AND_ASSIGN(cs, s->blk(0).poll(1000, 1));
    if (!cs.empty()) {
        EXPECT_NE(cs[0].status, VIRTIO_BLK_S_OK) << "read into a removed region succeeded";
    }
}

TEST_F(MemoryTest, BringUpWithAddMemRegOnly) {
    // QEMU with CONFIGURE_MEM_SLOTS sends the table as ADD_MEM_REG messages.
    SessionOptions o = default_session();
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, connect(o));
    if (!s->has_protocol(pf::kConfigureMemSlots)) {
        ASSERT_FALSE(is_worker());
        GTEST_SKIP() << "no CONFIGURE_MEM_SLOTS";
    }
    s.reset();  // one front-end at a time
    o.memory_messages = MemoryMessages::kAddMemReg;
    o.regions = {{0, 16 * MiB}, {32 * MiB, 16 * MiB}};
    ASSERT_OK_AND_ASSIGN(s, connect(o));
    ASSERT_OK(s->start());
    verified_io(s->blk(0), 25000, 65536, 61);
}

}  // namespace
}  // namespace xenvhost::component
