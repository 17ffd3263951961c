// virtio-blk I/O of a Xen guest through the worker's grant and foreign
// mappings (the real library calls, served by the mapping double), checked
// against the image file byte for byte.
#include "fixture.hpp"

#include "frontend/xen_blk_session.hpp"
#include "xen_fixture.hpp"

namespace xenvhost::component {
namespace {

namespace flag = vhost_user::xen_mmap_flag;
constexpr uint64_t MiB = 1ull << 20;

class XenIoTest : public XenWorkerFixture<> {
protected:
    Result<std::unique_ptr<XenBlkSession>> open(const XenSessionOptions& o) {
        auto s = XenBlkSession::connect(worker_->socket(), worker_->files(), o);
        if (!s) return s;
        if (auto r = (*s)->start(); !r) return std::unexpected(r.error());
        return s;
    }
    std::vector<uint8_t> file_bytes(uint64_t offset, size_t len) {
        auto b = pread_file(worker_->image(), offset, len);
        EXPECT_TRUE(b) << b.error().message;
        return b ? *b : std::vector<uint8_t>{};
    }
    // Write, compare the image file, read back into a cleared buffer, compare.
    void verified_io(XenBlkQueue& q, uint64_t sector, uint32_t len, uint64_t seed) {
        auto data = random_bytes(seed, len);
        ASSERT_OK(q.write(sector, data));
        ASSERT_EQ(first_difference(file_bytes(sector * kSectorSize, len), data), -1) << "image differs after write";
        std::vector<uint8_t> back;
        ASSERT_OK_AND_ASSIGN(back, q.read(sector, len));
        ASSERT_EQ(first_difference(back, data), -1) << "read-back differs from what was written";
    }
    // A read of data the test did not write: the pattern the image was made with.
    void pattern_read(XenBlkQueue& q, uint64_t sector, uint32_t len) {
        std::vector<uint8_t> got;
        ASSERT_OK_AND_ASSIGN(got, q.read(sector, len));
        EXPECT_EQ(first_difference(got, pattern(worker_->options().seed, sector * kSectorSize, len)), -1);
    }

};

XenSessionOptions grant_session() {
    XenSessionOptions o;
    o.mapping = XenMapping::kGrant;
    return o;
}

XenSessionOptions foreign_session() {
    XenSessionOptions o;
    o.mapping = XenMapping::kForeign;
    return o;
}

TEST_F(XenIoTest, GrantReadWriteFlush) {
    start_worker();
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(grant_session()));
    EXPECT_EQ(s->capacity_sectors(), worker_->options().image_size / kSectorSize);
    pattern_read(s->blk(), 100, 4096);
    verified_io(s->blk(), 200, 4096, 1);
    verified_io(s->blk(), 300, 512, 2);
    verified_io(s->blk(), 1000, 128 * 1024, 3);
    ASSERT_OK(s->blk().flush_cache());
    auto st = worker_->status();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(st->mapping, "grant");
    EXPECT_TRUE(st->connected);
}

TEST_F(XenIoTest, GrantBuffersSplitIntoPageDescriptors) {
    // One descriptor per 4 KiB (Linux's grant DMA maps per segment).
    start_worker();
    XenSessionOptions o = grant_session();
    o.blk.segment_size = 4096;
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    verified_io(s->blk(), 2000, 64 * 1024, 4);
    pattern_read(s->blk(), 3000, 32 * 1024);
}

TEST_F(XenIoTest, GrantBufferStartingMidPage) {
    // A multi-page buffer at an offset: consecutive grefs, offset in the first page.
    start_worker();
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(grant_session()));
    XenBlkQueue& q = s->blk();
    const uint64_t gpa = q.slot_pages(0).data_gpa + 1536;
    auto data = random_bytes(5, 3 * 4096);
    BlkCommand w = BlkCommand::out(4000, data);
    w.data_gpa = gpa;
    BlkCompletion c;
    ASSERT_OK_AND_ASSIGN(c, q.run(w));
    ASSERT_EQ(c.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(first_difference(file_bytes(4000 * kSectorSize, data.size()), data), -1);
    ASSERT_OK(s->memory().fill(gpa, data.size(), 0));
    BlkCommand r = BlkCommand::in(4000, static_cast<uint32_t>(data.size()));
    r.data_gpa = gpa;
    std::vector<uint8_t> back;
    ASSERT_OK_AND_ASSIGN(c, q.run(r, &back));
    ASSERT_EQ(c.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(first_difference(back, data), -1);
}

// Both spellings of "no advance map" are accepted for the buffer regions.
class XenNoAdvanceFlagTest : public XenIoTest, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(XenNoAdvanceFlagTest, GrantIo) {
    start_worker();
    XenSessionOptions o = grant_session();
    o.no_advance_flag = GetParam();
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    size_t no_advance = 0;
    for (const auto& r : s->regions()) no_advance += (r.xen->flags == (flag::kGrant | GetParam()));
    EXPECT_GE(no_advance, 1u);
    verified_io(s->blk(), 5000, 8192, 6);
}

INSTANTIATE_TEST_SUITE_P(Flags, XenNoAdvanceFlagTest,
                         ::testing::Values(flag::kNoAdvanceMapDeployed, flag::kNoAdvanceMapSpec),
                         [](const auto& info) { return info.param == flag::kNoAdvanceMapSpec ? "Spec0x100" : "Deployed0x8"; });

TEST_F(XenIoTest, GrantTwoQueuesWithAddMemReg) {
    // Two queues make 12 regions: more than one SET_MEM_TABLE carries.
    start_worker();
    XenSessionOptions o = grant_session();
    o.num_queues = 2;
    o.table = XenTableMessages::kAddMemReg;
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    EXPECT_GT(s->regions().size(), vhost_user::kMaxFds);
    verified_io(s->blk(0), 6000, 16384, 7);
    verified_io(s->blk(1), 6100, 16384, 8);
    // Both queues busy at once.
    std::vector<std::vector<uint8_t>> written;
    for (unsigned i = 0; i < 8; ++i) {
        written.push_back(random_bytes(100 + i, 8192));
        ASSERT_OK(s->blk(i % 2).submit(BlkCommand::out(7000 + i * 16, written.back())));
    }
    s->blk(0).flush();
    s->blk(1).flush();
    for (unsigned qi = 0; qi < 2; ++qi) {
        std::vector<BlkCompletion> cs;
        ASSERT_OK_AND_ASSIGN(cs, s->blk(qi).poll(10000, 4));
        ASSERT_EQ(cs.size(), 4u);
        for (const auto& c : cs) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK);
    }
    for (unsigned i = 0; i < 8; ++i)
        EXPECT_EQ(first_difference(file_bytes((7000 + i * 16) * kSectorSize, 8192), written[i]), -1) << i;
}

TEST_F(XenIoTest, ForeignReadWriteFlush) {
    start_worker();
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(foreign_session()));
    pattern_read(s->blk(), 8000, 4096);
    verified_io(s->blk(), 8100, 4096, 9);
    verified_io(s->blk(), 8200, 128 * 1024, 10);
    ASSERT_OK(s->blk().flush_cache());
    auto st = worker_->status();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(st->mapping, "foreign");
}

TEST_F(XenIoTest, ForeignSeveralRamRangesWithGaps) {
    // Rings in one RAM range, buffers in another, a hole between them.
    XenWorkerOptions wo = xen_worker_defaults(XENVHOST_BUILD_BIN);
    wo.guest_pages = (48 * MiB) / 4096;
    start_worker(wo);
    XenSessionOptions o = foreign_session();
    o.foreign_ram = {{0, 8 * MiB}, {16 * MiB, 8 * MiB}, {40 * MiB, 8 * MiB}};
    o.ring_region = 2;
    o.buffer_region = 1;
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    ASSERT_EQ(s->regions().size(), 3u);
    verified_io(s->blk(), 9000, 65536, 11);
    pattern_read(s->blk(), 9500, 8192);
}

TEST_F(XenIoTest, ForeignQemuStyleGuestPhysicalUserAddresses) {
    // QEMU as a Xen device model: RAM at GUEST_RAM0_BASE (Xen/arm), user
    // addresses and ring addresses guest-physical.
    constexpr uint64_t base = 0x40000000;
    XenWorkerOptions wo = xen_worker_defaults(XENVHOST_BUILD_BIN);
    wo.guest_pages = (base + 32 * MiB) / 4096;
    start_worker(wo);
    XenSessionOptions o = foreign_session();
    o.foreign_ram = {{base, 32 * MiB}};
    o.user_addr_is_gpa = true;
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    EXPECT_EQ(s->regions().front().region.user_addr, base);
    verified_io(s->blk(), 9600, 16384, 16);
}

TEST_F(XenIoTest, ForeignWithAddMemReg) {
    start_worker();
    XenSessionOptions o = foreign_session();
    o.table = XenTableMessages::kAddMemReg;
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    verified_io(s->blk(), 9800, 4096, 12);
}

TEST_F(XenIoTest, SecondFrontEndAfterDisconnect) {
    // The worker listens again; the next front-end maps afresh.
    start_worker();
    {
        std::unique_ptr<XenBlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, open(grant_session()));
        verified_io(s->blk(), 10000, 4096, 13);
    }
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(foreign_session()));
    verified_io(s->blk(), 10100, 4096, 14);
}

TEST_F(XenIoTest, PlainFrontEndOnXenWorker) {
    // A QEMU/KVM front-end that does not ack XEN_MMAP gets plain mmap.
    start_worker();
    SessionOptions o = default_session();
    o.memory_size = 16 * MiB;
    auto s = BlkSession::connect(worker_->socket(), o);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_TRUE((*s)->offered_protocol_features() & vhost_user::bit(vhost_user::protocol_feature::kXenMmap));
    EXPECT_FALSE((*s)->acked_protocol_features() & vhost_user::bit(vhost_user::protocol_feature::kXenMmap));
    ASSERT_OK((*s)->start());
    auto data = random_bytes(15, 8192);
    ASSERT_OK((*s)->blk(0).write(11000, data));
    EXPECT_EQ(first_difference(file_bytes(11000 * kSectorSize, data.size()), data), -1);
    auto st = worker_->status();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(st->mapping, "mmap");
    EXPECT_EQ(worker_->files().counters().map_calls(), 0u);
}

}  // namespace
}  // namespace xenvhost::component
