// The worker behind a front-end's IOMMU (VIRTIO_F_ACCESS_PLATFORM acked, no
// XEN_MMAP): ring and descriptor addresses are IOVAs of the test front-end's
// own IOMMU, which maps guest memory at addresses unrelated to guest-physical
// and user addresses. Ring translations go up front as IOTLB UPDATEs;
// buffers are left to the worker's MISS requests on the back-end channel,
// which the front-end answers with an UPDATE on the main connection.

#include "fixture.hpp"

#include "frontend/backend_channel_session.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>

namespace xenvhost::component {
namespace {

namespace vu = vhost_user;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1ull << 20;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A buffer of guest memory with an IOMMU mapping of its own.
struct IommuBuffer {
    uint64_t gpa = 0;
    IommuMapping map;
};

class IotlbTest : public WorkerOnlyTest {
protected:
    IotlbTest() : WorkerOnlyTest("IOTLB support is tested against the worker") {}

    static ChannelSessionOptions iommu_options() {
        ChannelSessionOptions o;
        o.access_platform = true;
        return o;
    }
    Result<std::unique_ptr<ChannelBlkSession>> open_iommu(const ChannelSessionOptions& o = iommu_options()) {
        auto s = ChannelBlkSession::connect(socket_, o);
        if (!s) return s;
        if (auto r = (*s)->start(); !r) return std::unexpected(r.error());
        return s;
    }

    IommuBuffer buffer(ChannelBlkSession& s, uint64_t len, uint8_t perm, uint8_t fill) {
        IommuBuffer b;
        auto gpa = s.memory().alloc(len, 4096);
        EXPECT_TRUE(gpa) << gpa.error().message;
        if (!gpa) return b;
        b.gpa = *gpa;
        EXPECT_TRUE(s.memory().fill(b.gpa, len, fill));
        auto m = s.iommu()->map(b.gpa, len, perm);
        EXPECT_TRUE(m) << m.error().message;
        if (m) b.map = *m;
        return b;
    }

    // A read of `sector` into one 8 KiB buffer whose two pages the IOMMU
    // maps separately (the request's two data descriptors), filled with
    // 0xc3: the first page's translation is given up front, so the request
    // stops at the MISS for the second, which the channel holds.
    struct HeldRead {
        uint64_t gpa = 0;
        IommuMapping first, second;
    };
    void hold_read_at_second_page(ChannelBlkSession& s, uint64_t sector, HeldRead& r) {
        BlkQueue& q = s.blk();
        auto g = s.memory().alloc(8 * kKiB, 4096);
        ASSERT_TRUE(g);
        r.gpa = *g;
        ASSERT_OK_AND_ASSIGN(r.first, s.iommu()->map(r.gpa, 4 * kKiB, iommu_perm::kReadWrite));
        ASSERT_OK_AND_ASSIGN(r.second, s.iommu()->map(r.gpa + 4 * kKiB, 4 * kKiB, iommu_perm::kReadWrite));
        ASSERT_TRUE(s.memory().fill(r.gpa, 8 * kKiB, 0xc3));
        uint64_t v;
        ASSERT_OK_AND_ASSIGN(v, s.update(r.first));
        ASSERT_EQ(v, 0u);
        s.channel()->set_policy(BackendRequest::kIotlbMsg, ChannelPolicy::kHold);
        q.set_segment_size(4 * kKiB);
        BlkCommand read = BlkCommand::in(sector, 8 * kKiB);
        read.data_gpa = r.gpa;
        unsigned slot;
        ASSERT_OK_AND_ASSIGN(slot, q.submit(read));
        ASSERT_OK(s.update_slot(slot));
        q.flush();
        ASSERT_TRUE(s.channel()->wait_count(BackendRequest::kIotlbMsg, 1, 5000));
        ASSERT_EQ(s.misses().at(0).iova, r.second.iova) << "the second page should be the one asked for";
    }

    // Offset of the first byte of guest memory at `gpa` that is not `byte`; -1 if none.
    static long first_not(ChannelBlkSession& s, uint64_t gpa, size_t len, uint8_t byte) {
        return first_difference(guest(s, gpa, len), std::vector<uint8_t>(len, byte));
    }

    static std::vector<uint8_t> guest(ChannelBlkSession& s, uint64_t gpa, size_t len) {
        std::vector<uint8_t> v(len);
        EXPECT_TRUE(s.memory().read(gpa, v));
        return v;
    }

    // Every MISS names an IOVA the IOMMU maps (or mapped: `former`) and a
    // read/write permission, and asks for no reply: the UPDATE on the
    // front-end socket answers it (as DPDK sends it).
    static void expect_misses_are_iovas(ChannelBlkSession& s, std::vector<IommuMapping> former = {}) {
        for (const auto& r : s.channel()->records()) {
            if (r.request != static_cast<uint32_t>(BackendRequest::kIotlbMsg)) continue;
            EXPECT_EQ(r.flags, vu::kVersion);
            vu::IotlbMsg m{};
            ASSERT_EQ(r.payload.size(), sizeof m);
            std::memcpy(&m, r.payload.data(), sizeof m);
            EXPECT_EQ(m.type, iotlb_type::kMiss);
            EXPECT_TRUE(m.perm >= 1 && m.perm <= 3) << "perm " << int(m.perm);
            bool known = s.iommu()->find_iova(m.iova).has_value();
            for (const auto& f : former) known |= m.iova >= f.first_page() && m.iova - f.first_page() < f.pages_len();
            EXPECT_TRUE(known) << "MISS for " << std::hex << m.iova
                               << ", which is no IOVA of the front-end's IOMMU";
        }
        EXPECT_TRUE(s.channel()->errors().empty());
    }
};

TEST_F(IotlbTest, BlockIoThroughIovas) {
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu());
    ASSERT_TRUE(s->acked_features() & vu::bit(33));
    // The rings were translated up front; nothing was asked yet.
    EXPECT_EQ(s->misses().size(), 0u);

    // A read first: its data pages are first touched for writing.
    auto t0 = Clock::now();
    std::vector<uint8_t> back;
    ASSERT_OK_AND_ASSIGN(back, s->blk().read(8000, 32 * kKiB));
    const double first = seconds_since(t0);
    EXPECT_EQ(first_difference(back, original(8000 * kSectorSize, 32 * kKiB)), -1);
    const size_t first_misses = s->misses().size();
    // The header/status block's page and the 8 data pages, each asked for.
    EXPECT_GE(first_misses, 9u);
    for (uint32_t len : {512u, 4096u, 12288u, 65536u, 131072u})
        verified_io(s->blk(), 2048 + len / 64, len, len);
    std::printf("[ figures  ] first 32 KiB read %.1f ms with %zu misses; %zu misses in all\n", first * 1000,
                first_misses, s->misses().size());

    expect_misses_are_iovas(*s);
    // Ring areas were never asked for, and no miss names a guest-physical
    // or user address.
    bool saw_read = false, saw_write = false;
    for (const auto& m : s->misses()) {
        for (size_t i = 0; i < 3; ++i) {
            const IommuMapping& r = s->ring_mapping(i);
            EXPECT_FALSE(m.iova >= r.first_page() && m.iova < r.first_page() + r.pages_len());
        }
        EXPECT_FALSE(s->memory().host(m.iova, 1)) << std::hex << m.iova << " is a guest-physical address";
        saw_read |= m.perm == iommu_perm::kRead;
        saw_write |= m.perm == iommu_perm::kWrite;
    }
    EXPECT_TRUE(saw_read) << "no miss asked for read access (request headers, written data)";
    EXPECT_TRUE(saw_write) << "no miss asked for write access (status bytes, read data)";
}

TEST_F(IotlbTest, ConcurrentRequestsReadTheirOwnRanges) {
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu());
    BlkQueue& q = s->blk();
    std::map<unsigned, uint64_t> sector_of;
    for (unsigned i = 0; i < q.depth(); ++i) {
        const uint64_t sector = 1024 + i * 517;
        unsigned slot;
        ASSERT_OK_AND_ASSIGN(slot, q.submit(BlkCommand::in(sector, 32 * kKiB)));
        sector_of[slot] = sector;
    }
    q.flush();
    std::vector<BlkCompletion> done;
    ASSERT_OK_AND_ASSIGN(done, q.poll(10000, q.depth()));
    ASSERT_EQ(done.size(), q.depth());
    for (const auto& c : done) {
        ASSERT_EQ(c.status, VIRTIO_BLK_S_OK) << "slot " << c.slot;
        std::vector<uint8_t> got;
        ASSERT_OK_AND_ASSIGN(got, q.data(c));
        EXPECT_EQ(first_difference(got, original(sector_of[c.slot] * kSectorSize, 32 * kKiB)), -1)
            << "slot " << c.slot;
    }
    expect_misses_are_iovas(*s);
}

// QEMU translates only the used ring at start; the worker asks for the rest.
TEST_F(IotlbTest, RingsTranslatedOnMiss) {
    ChannelSessionOptions o = iommu_options();
    o.rings_up_front = false;
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu(o));
    verified_io(s->blk(), 300, 8192, 2);
    std::vector<bool> asked(3, false);
    std::vector<uint8_t> perm(3, 0);
    for (const auto& m : s->misses())
        for (size_t i = 0; i < 3; ++i) {
            const IommuMapping& r = s->ring_mapping(i);
            if (m.iova >= r.first_page() && m.iova < r.first_page() + r.pages_len()) {
                asked[i] = true;
                perm[i] = m.perm;
            }
        }
    EXPECT_TRUE(asked[0] && asked[1] && asked[2]) << "desc " << asked[0] << " avail " << asked[1] << " used "
                                                  << asked[2];
    EXPECT_EQ(perm[0], iommu_perm::kRead);
    EXPECT_EQ(perm[1], iommu_perm::kRead);
    EXPECT_EQ(perm[2], iommu_perm::kReadWrite);
    expect_misses_are_iovas(*s);
}

// Each miss answered with every page of the mapping: fewer round trips.
// A ring larger than an IOMMU page, translated a page per miss, as a vIOMMU
// answers: the worker must put the ring together from several entries.
// Disabled: the worker maps a ring area only from a single IOTLB entry and
// stops the queue ("ring area IOVA ... is not contiguous"); the request then
// never completes.
TEST_F(IotlbTest, MultiPageRingsTranslatedPageByPage) {
    restart_backend([] {
        BackendConfig c;
        c.num_queues = 1;
        c.image_size = 16 * kMiB;
        c.queue_size = 1024;
        return c;
    }());
    ChannelSessionOptions o = iommu_options();
    o.queue_size = 1024;
    o.rings_up_front = false;
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu(o));
    ASSERT_GT(s->ring_mapping(0).pages_len(), kIommuPage);
    verified_io(s->blk(), 300, 8192, 2);
    expect_misses_are_iovas(*s);
}

TEST_F(IotlbTest, WholeMappingAnswers) {
    ChannelSessionOptions o = iommu_options();
    o.miss_answer = MissAnswer::kMapping;
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu(o));
    verified_io(s->blk(), 500, 128 * kKiB, 3);
    // One for the header/status block, one for the data buffer.
    EXPECT_LE(s->misses().size(), 2u);
    expect_misses_are_iovas(*s);
}

TEST_F(IotlbTest, ReadOnlyBufferUsedForDeviceWritesIsIoerr) {
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu());
    BlkQueue& q = s->blk();
    // Translated up front, with its read-only permission.
    IommuBuffer ro = buffer(*s, 8 * kKiB, iommu_perm::kRead, 0x3c);
    uint64_t v;
    ASSERT_OK_AND_ASSIGN(v, s->update(ro.map));
    ASSERT_EQ(v, 0u);

    BlkCommand read = BlkCommand::in(64, 8 * kKiB);
    read.data_gpa = ro.gpa;
    auto t0 = Clock::now();
    BlkCompletion c;
    ASSERT_OK_AND_ASSIGN(c, q.run(read));
    std::printf("[ timing   ] read into a read-only IOVA refused after %.3f s\n", seconds_since(t0));
    EXPECT_EQ(c.status, VIRTIO_BLK_S_IOERR) << blk_status_name(c.status);
    EXPECT_EQ(first_not(*s, ro.gpa, 8 * kKiB, 0x3c), -1);

    // The same, learnt through a miss: the front-end's answer carries the
    // read-only permission it has.
    IommuBuffer ro2 = buffer(*s, 4 * kKiB, iommu_perm::kRead, 0x4d);
    read = BlkCommand::in(128, 4 * kKiB);
    read.data_gpa = ro2.gpa;
    ASSERT_OK_AND_ASSIGN(c, q.run(read));
    EXPECT_EQ(c.status, VIRTIO_BLK_S_IOERR) << blk_status_name(c.status);
    EXPECT_EQ(first_not(*s, ro2.gpa, 4 * kKiB, 0x4d), -1);

    // What the device only reads may be read-only: a write from it works.
    BlkCommand write = BlkCommand::out(192, {});
    write.data_gpa = ro.gpa;
    write.data_len = 8 * kKiB;
    ASSERT_OK_AND_ASSIGN(c, q.run(write));
    EXPECT_EQ(c.status, VIRTIO_BLK_S_OK) << blk_status_name(c.status);
    EXPECT_EQ(first_difference(file_bytes(192 * kSectorSize, 8 * kKiB), std::vector<uint8_t>(8 * kKiB, 0x3c)), -1);

    // The worker keeps serving.
    verified_io(q, 700, 16 * kKiB, 4);
    expect_misses_are_iovas(*s);
}

// An INVALIDATE waits for the requests using the range, also those of a
// queue thread that waits for a MISS answer: that thread keeps submitting and
// reaping its other requests meanwhile, so the wait ends when they complete,
// long before the front-end answers the MISS (which QEMU does only after the
// INVALIDATE; see InvalidationIsAnsweredWhileARequestWaitsForAMissAnswer).
TEST_F(IotlbTest, InvalidationWaitsForRequestsOfAQueueWaitingForAMiss) {
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu());
    BlkQueue& q = s->blk();
    // A reads 128 KiB into its slot buffer, translated up front. B reads
    // into a buffer the worker must ask for, and the front-end holds that
    // MISS while A is in flight.
    IommuBuffer z = buffer(*s, 4 * kKiB, iommu_perm::kReadWrite, 0x5a);
    s->channel()->set_policy(BackendRequest::kIotlbMsg, ChannelPolicy::kHold);
    unsigned a, b;
    ASSERT_OK_AND_ASSIGN(a, q.submit(BlkCommand::in(1000, 128 * kKiB)));
    ASSERT_OK(s->update_slot(a));
    ASSERT_TRUE(s->memory().fill(q.slot_data_gpa(a), 128 * kKiB, 0xa5));
    BlkCommand cb = BlkCommand::in(3000, 4 * kKiB);
    cb.data_gpa = z.gpa;
    ASSERT_OK_AND_ASSIGN(b, q.submit(cb));
    ASSERT_OK(s->update_slot(b));
    q.flush();
    ASSERT_TRUE(s->channel()->wait_count(BackendRequest::kIotlbMsg, 1, 5000)) << "B's buffer was not asked for";
    ASSERT_EQ(s->misses().at(0).iova, z.map.iova);

    // The guest gives B's buffer up (its miss will be refused) and flushes
    // A's buffer from the device IOTLB while A may still be in flight.
    ASSERT_OK(s->iommu()->unmap(z.map.iova));
    constexpr int kHoldMs = 300;
    const IommuMapping& da = s->slot_mappings(a).data;
    auto t0 = Clock::now();
    auto inv = s->invalidate(da.first_page(), da.pages_len());
    const double secs = seconds_since(t0);
    std::printf("[ timing   ] INVALIDATE answered %.3f s after it was sent, B's MISS held\n", secs);
    ASSERT_TRUE(inv) << inv.error().message;
    EXPECT_EQ(*inv, 0u);
    EXPECT_LT(secs, kHoldMs / 1000.0) << "the INVALIDATE waited for the front-end's MISS answer";
    // A was finished before the INVALIDATE was answered, while B's MISS is
    // still held. Its used element follows a moment later: the worker gives
    // a request's mappings up before it publishes the used element (the
    // order grants demand), and the INVALIDATE waits only for the former.
    std::vector<BlkCompletion> done;
    ASSERT_OK_AND_ASSIGN(done, q.poll(kHoldMs / 2, 1));
    ASSERT_EQ(done.size(), 1u) << "the INVALIDATE was answered while A still used the range";
    EXPECT_EQ(done[0].slot, a);
    EXPECT_EQ(done[0].status, VIRTIO_BLK_S_OK) << blk_status_name(done[0].status);
    std::this_thread::sleep_for(std::chrono::milliseconds(kHoldMs));
    s->channel()->release();

    std::vector<BlkCompletion> rest;
    ASSERT_OK_AND_ASSIGN(rest, q.poll(10000, 1));
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0].slot, b);
    EXPECT_NE(rest[0].status, VIRTIO_BLK_S_OK) << "B read into a buffer the IOMMU no longer maps";
    EXPECT_EQ(first_difference(guest(*s, q.slot_data_gpa(a), 128 * kKiB), file_bytes(1000 * kSectorSize, 128 * kKiB)),
              -1);
    EXPECT_EQ(first_not(*s, z.gpa, 4 * kKiB, 0x5a), -1);
    expect_misses_are_iovas(*s, {z.map});
}

TEST_F(IotlbTest, InvalidatedIovaMissesAndIsRefused) {
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu());
    BlkQueue& q = s->blk();
    IommuBuffer d = buffer(*s, 16 * kKiB, iommu_perm::kReadWrite, 0);
    BlkCommand read = BlkCommand::in(40, 16 * kKiB);
    read.data_gpa = d.gpa;
    BlkCompletion c;
    ASSERT_OK_AND_ASSIGN(c, q.run(read));
    ASSERT_EQ(c.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(first_difference(guest(*s, d.gpa, 16 * kKiB), original(40 * kSectorSize, 16 * kKiB)), -1);

    // Unmapped and invalidated; a driver that still uses the address.
    uint64_t v;
    ASSERT_OK_AND_ASSIGN(v, s->unmap_and_invalidate(d.map));
    ASSERT_EQ(v, 0u);
    s->iommu()->use_stale_addresses(true);
    ASSERT_TRUE(s->memory().fill(d.gpa, 16 * kKiB, 0xee));
    const size_t misses_before = s->misses().size();
    auto t0 = Clock::now();
    BlkCommand again = BlkCommand::in(80, 16 * kKiB);
    again.data_gpa = d.gpa;
    ASSERT_OK_AND_ASSIGN(c, q.run(again));
    const double secs = seconds_since(t0);
    std::printf("[ timing   ] request on an invalidated IOVA failed after %.3f s\n", secs);
    EXPECT_EQ(c.status, VIRTIO_BLK_S_IOERR) << blk_status_name(c.status);
    EXPECT_EQ(first_not(*s, d.gpa, 16 * kKiB, 0xee), -1);
    bool asked = false;
    auto misses = s->misses();
    for (size_t i = misses_before; i < misses.size(); ++i) asked |= misses[i].iova == d.map.iova;
    EXPECT_TRUE(asked) << "the worker used its old translation instead of asking";
    EXPECT_LT(secs, 2.5);
    s->iommu()->use_stale_addresses(false);

    verified_io(q, 900, 8 * kKiB, 5);
    expect_misses_are_iovas(*s, {d.map});
}

// An INVALIDATE that arrives while a request has translated part of its
// buffers and waits for the translation of another: once the INVALIDATE is
// answered the worker must not touch the invalidated memory, whether it
// waited for the request or fails it.
TEST_F(IotlbTest, InvalidationWhileTheSameRequestWaitsForAMiss) {
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu());
    BlkQueue& q = s->blk();
    HeldRead r;
    ASSERT_NO_FATAL_FAILURE(hold_read_at_second_page(*s, 200, r));

    // The first page is given up and reused while the second is awaited.
    auto t0 = Clock::now();
    ASSERT_OK(s->unmap_and_invalidate(r.first));
    std::printf("[ timing   ] INVALIDATE answered after %.3f s\n", seconds_since(t0));
    ASSERT_TRUE(s->memory().fill(r.gpa, 4 * kKiB, 0x3c));
    s->channel()->set_policy(BackendRequest::kIotlbMsg, ChannelPolicy::kAnswer);
    s->channel()->release();
    std::vector<BlkCompletion> done;
    ASSERT_OK_AND_ASSIGN(done, q.poll(10000, 1));
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(first_not(*s, r.gpa, 4 * kKiB, 0x3c), -1)
        << "the worker wrote into a page after its INVALIDATE was answered (request status "
        << blk_status_name(done[0].status) << ")";
}

// QEMU handles a guest's IOTLB invalidation on a vCPU thread and holds its
// global lock until the back-end answers the INVALIDATE, and it reads the
// back-end channel under that lock: it answers no MISS while its INVALIDATE
// is outstanding. A request waiting for a MISS answer must not hold the
// INVALIDATE up (a deadlock until the MISS times out, the request failed);
// it translates again once answered. A Linux guest's lazy IOTLB flush is such
// an INVALIDATE of the whole IOVA space.
TEST_F(IotlbTest, InvalidationIsAnsweredWhileARequestWaitsForAMissAnswer) {
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu());
    BlkQueue& q = s->blk();
    HeldRead r;
    ASSERT_NO_FATAL_FAILURE(hold_read_at_second_page(*s, 300, r));
    uint64_t v;

    // Nothing was unmapped: every translation is still valid in the IOMMU.
    auto t0 = Clock::now();
    ASSERT_OK_AND_ASSIGN(v, s->invalidate(0, UINT64_MAX));
    const double secs = seconds_since(t0);
    std::printf("[ timing   ] whole-space INVALIDATE answered after %.3f s while a MISS was held\n", secs);
    EXPECT_EQ(v, 0u);
    EXPECT_LT(secs, 1.0) << "the INVALIDATE waited for a request that waited for the front-end";
    s->channel()->set_policy(BackendRequest::kIotlbMsg, ChannelPolicy::kAnswer);
    s->channel()->release();
    std::vector<BlkCompletion> done;
    ASSERT_OK_AND_ASSIGN(done, q.poll(10000, 1));
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].status, VIRTIO_BLK_S_OK) << blk_status_name(done[0].status);
    EXPECT_EQ(first_difference(guest(*s, r.gpa, 8 * kKiB), original(300 * kSectorSize, 8 * kKiB)), -1);
    bool asked_again = false;
    for (const auto& m : s->misses()) asked_again |= m.iova == r.first.iova;
    EXPECT_TRUE(asked_again) << "the first page was used through a translation the INVALIDATE removed";

    q.set_segment_size(0);
    verified_io(q, 700, 8 * kKiB, 3);
    expect_misses_are_iovas(*s);
}

TEST_F(IotlbTest, UnansweredMissFailsTheRequestWithoutHanging) {
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu());
    BlkQueue& q = s->blk();
    IommuBuffer d = buffer(*s, 4 * kKiB, iommu_perm::kReadWrite, 0x77);
    s->channel()->set_policy(BackendRequest::kIotlbMsg, ChannelPolicy::kIgnore);
    BlkCommand read = BlkCommand::in(50, 4 * kKiB);
    read.data_gpa = d.gpa;
    unsigned slot;
    ASSERT_OK_AND_ASSIGN(slot, q.submit(read));
    ASSERT_OK(s->update_slot(slot));  // header and status known; the buffer is not
    auto t0 = Clock::now();
    q.flush();
    std::vector<BlkCompletion> done;
    ASSERT_OK_AND_ASSIGN(done, q.poll(10000, 1));
    const double secs = seconds_since(t0);
    std::printf("[ timing   ] request whose MISS is never answered failed after %.3f s\n", secs);
    ASSERT_EQ(done.size(), 1u) << "the request hung";
    EXPECT_EQ(done[0].status, VIRTIO_BLK_S_IOERR) << blk_status_name(done[0].status);
    EXPECT_EQ(first_not(*s, d.gpa, 4 * kKiB, 0x77), -1);
    EXPECT_LE(secs, 4.0);
    ASSERT_EQ(s->channel()->count(BackendRequest::kIotlbMsg), 1u);

    // Answering again, the front-end is served again.
    s->channel()->set_policy(BackendRequest::kIotlbMsg, ChannelPolicy::kAnswer);
    BlkCompletion c;
    ASSERT_OK_AND_ASSIGN(c, q.run(read));
    EXPECT_EQ(c.status, VIRTIO_BLK_S_OK) << blk_status_name(c.status);
    EXPECT_EQ(first_difference(guest(*s, d.gpa, 4 * kKiB), original(50 * kSectorSize, 4 * kKiB)), -1);
    expect_misses_are_iovas(*s);
}

TEST_F(IotlbTest, IotlbMessagesAreAnsweredWithAVerdict) {
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu());
    IommuBuffer d = buffer(*s, 4 * kKiB, iommu_perm::kReadWrite, 0);
    vu::IotlbMsg good;
    ASSERT_OK_AND_ASSIGN(good, s->iommu()->update_of(d.map));
    struct Case {
        const char* what;
        vu::IotlbMsg m;
    };
    std::vector<Case> bad;
    bad.push_back({"UPDATE of size 0", good});
    bad.back().m.size = 0;
    bad.push_back({"UPDATE wrapping around", good});
    bad.back().m.iova = UINT64_MAX - 4095;
    bad.back().m.size = 8192;
    bad.push_back({"UPDATE with permission 4", good});
    bad.back().m.perm = 4;
    bad.push_back({"MISS sent by the front-end", good});
    bad.back().m.type = iotlb_type::kMiss;
    bad.push_back({"ACCESS_FAIL sent by the front-end", good});
    bad.back().m.type = 4;
    bad.push_back({"type 0", good});
    bad.back().m.type = 0;
    for (const auto& c : bad) {
        uint64_t v;
        ASSERT_OK_AND_ASSIGN(v, s->iotlb(c.m));
        EXPECT_NE(v, 0u) << c.what << " was accepted";
    }
    uint64_t v;
    ASSERT_OK_AND_ASSIGN(v, s->iotlb(good));
    EXPECT_EQ(v, 0u);
    // An INVALIDATE of what nobody mapped is fine.
    ASSERT_OK_AND_ASSIGN(v, s->invalidate(0x1000, 0x1000));
    EXPECT_EQ(v, 0u);
    // Still the same connection, still serving; the good UPDATE spared a miss.
    BlkCommand read = BlkCommand::in(20, 4 * kKiB);
    read.data_gpa = d.gpa;
    const size_t misses = s->misses().size();
    BlkCompletion c;
    ASSERT_OK_AND_ASSIGN(c, s->blk().run(read));
    EXPECT_EQ(c.status, VIRTIO_BLK_S_OK);
    for (size_t i = misses; i < s->misses().size(); ++i) EXPECT_NE(s->misses()[i].iova, d.map.iova);
    EXPECT_EQ(first_difference(guest(*s, d.gpa, 4 * kKiB), original(20 * kSectorSize, 4 * kKiB)), -1);
}

TEST_F(IotlbTest, SetFeaturesRestartDropsOldTranslations) {
    std::unique_ptr<ChannelBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open_iommu());
    BlkQueue& q = s->blk();
    IommuBuffer d = buffer(*s, 8 * kKiB, iommu_perm::kReadWrite, 0x11);
    auto other = s->memory().alloc(8 * kKiB, 4096);
    ASSERT_TRUE(other);
    ASSERT_TRUE(s->memory().fill(*other, 8 * kKiB, 0x22));
    BlkCommand read = BlkCommand::in(60, 8 * kKiB);
    read.data_gpa = d.gpa;
    BlkCompletion c;
    ASSERT_OK_AND_ASSIGN(c, q.run(read));
    ASSERT_EQ(c.status, VIRTIO_BLK_S_OK);

    // The driver reinitialises the device and, meanwhile, its IOMMU sends
    // that IOVA elsewhere without an invalidation reaching the worker.
    ASSERT_OK(s->iommu()->remap(d.map.iova, *other));
    ASSERT_TRUE(s->memory().fill(d.gpa, 8 * kKiB, 0x11));
    ASSERT_OK(s->restart());
    const size_t misses_before = s->misses().size();

    read = BlkCommand::in(90, 8 * kKiB);
    read.data_gpa = *other;  // the same IOVA, now mapping `other`
    ASSERT_OK_AND_ASSIGN(c, q.run(read));
    ASSERT_EQ(c.status, VIRTIO_BLK_S_OK) << blk_status_name(c.status);
    EXPECT_EQ(first_difference(guest(*s, *other, 8 * kKiB), original(90 * kSectorSize, 8 * kKiB)), -1)
        << "the read did not land where the IOMMU maps the IOVA now";
    EXPECT_EQ(first_not(*s, d.gpa, 8 * kKiB, 0x11), -1)
        << "the worker wrote through a translation from before SET_FEATURES";
    bool asked = false;
    auto misses = s->misses();
    for (size_t i = misses_before; i < misses.size(); ++i) asked |= misses[i].iova == d.map.iova;
    EXPECT_TRUE(asked);
    verified_io(q, 1200, 4 * kKiB, 6);
    expect_misses_are_iovas(*s);
}

}  // namespace
}  // namespace xenvhost::component
