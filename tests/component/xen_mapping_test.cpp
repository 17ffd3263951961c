// How often the worker maps: rings once per ring start, each request's
// buffers with one batched call per access direction (the header page
// read-only; data and status writable for a read, data read-only for a
// write), every mapping unmapped before the request completes. The worker's
// own counters (control channel `status`) and the double's counters must
// both show exactly that.
#include "fixture.hpp"

#include "frontend/xen_blk_session.hpp"
#include "xen_fixture.hpp"

#include <unistd.h>

#include <iostream>

namespace xenvhost::component {
namespace {

namespace xd = xendouble;

// Both sides' figures for one stretch of work.
struct Figures {
    uint64_t map_calls, unmap_calls, pages, failures;  // worker
    XenDoubleCounters dbl;                             // double
};

class XenMappingTest : public XenWorkerFixture<::testing::TestWithParam<XenMapping>> {
protected:
    void SetUp() override { start_worker(); }
    XenSessionOptions session() const {
        XenSessionOptions o;
        o.mapping = GetParam();
        return o;
    }
    bool grant() const { return GetParam() == XenMapping::kGrant; }
    Figures now() {
        Figures f{};
        auto st = worker_->status();
        EXPECT_TRUE(st) << st.error().message;
        if (st) f = {st->map_calls, st->unmap_calls, st->pages_mapped, st->map_failures, {}};
        f.dbl = worker_->files().counters();
        return f;
    }
    // Map and unmap calls, pages and failures since `before`, as the worker and
    // the double count them; both must equal the expectation.
    void expect_delta(const Figures& before, uint64_t maps, uint64_t unmaps, uint64_t pages, const char* what) {
        const Figures after = now();
        const XenDoubleCounters d = after.dbl - before.dbl;
        const uint64_t dbl_maps = grant() ? d[xd::kGrantMapCalls] : d[xd::kForeignMapCalls];
        const uint64_t dbl_unmaps = grant() ? d[xd::kGrantUnmapCalls] : d[xd::kForeignUnmapCalls];
        const uint64_t dbl_pages = grant() ? d[xd::kGrantPagesMapped] : d[xd::kForeignPagesMapped];
        EXPECT_EQ(after.map_calls - before.map_calls, maps) << what << ": worker map calls";
        EXPECT_EQ(after.unmap_calls - before.unmap_calls, unmaps) << what << ": worker unmap calls";
        EXPECT_EQ(after.pages - before.pages, pages) << what << ": worker pages mapped";
        EXPECT_EQ(after.failures - before.failures, 0u) << what << ": worker map failures";
        EXPECT_EQ(dbl_maps, maps) << what << ": double map calls (" << d.describe() << ")";
        EXPECT_EQ(dbl_unmaps, unmaps) << what << ": double unmap calls (" << d.describe() << ")";
        EXPECT_EQ(dbl_pages, pages) << what << ": double pages mapped (" << d.describe() << ")";
        EXPECT_EQ(d[xd::kFailures], 0u) << what << ": double failures";
        // The other kind of mapping is never used.
        EXPECT_EQ(grant() ? d[xd::kForeignMapCalls] : d[xd::kGrantMapCalls], 0u) << what;
    }
    Result<std::unique_ptr<XenBlkSession>> open(const XenSessionOptions& o) {
        auto s = XenBlkSession::connect(worker_->socket(), worker_->files(), o);
        if (!s) return s;
        if (auto r = (*s)->start(); !r) return std::unexpected(r.error());
        return s;
    }
    void expect_nothing_mapped(const char* what) {
        auto page = worker_->files().first_mapped(0, worker_->files().pages() * xd::kPageSize);
        EXPECT_FALSE(page) << what << ": page " << *page << " is still mapped";
    }

};

TEST_P(XenMappingTest, RingsOncePerStartBuffersTwoCallsPerRequest) {
    const Figures start = now();
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(session()));
    XenBlkQueue& q = s->blk();
    // Descriptor table, avail ring, used ring: one call each, one page each
    // for 128 entries, mapped as the ring starts and kept. (A ring may be
    // mapped on its own thread just after the start is acknowledged.)
    ASSERT_EQ(s->ring_pages(), 3u);
    for (int i = 0; i < 200 && now().map_calls - start.map_calls < 3; ++i) ::usleep(10000);
    expect_delta(start, 3, 0, 3, "ring start");

    constexpr unsigned N = 20;
    Figures f = now();
    for (unsigned i = 0; i < N; ++i) ASSERT_OK(q.read(100 + i * 8, 4096));
    // 4 KiB read: header page read-only (1 call, 1 page), data and status
    // pages writable (1 call, 2 pages).
    expect_delta(f, 2 * N, 2 * N, 3 * N, "4 KiB reads");

    f = now();
    for (unsigned i = 0; i < N; ++i) ASSERT_OK(q.write(400 + i * 8, random_bytes(i, 4096)));
    // 4 KiB write: header and data read-only (1 call, 2 pages), status writable (1 call, 1 page).
    expect_delta(f, 2 * N, 2 * N, 3 * N, "4 KiB writes");

    f = now();
    for (unsigned i = 0; i < N; ++i) ASSERT_OK(q.flush_cache());
    expect_delta(f, 2 * N, 2 * N, 2 * N, "flushes");

    f = now();
    ASSERT_OK(q.read(1000, 64 * 1024));
    expect_delta(f, 2, 2, 1 + 16 + 1, "64 KiB read, one descriptor");

    // Sixteen data descriptors still make one writable batch.
    q.set_segment_size(4096);
    f = now();
    ASSERT_OK(q.read(1200, 64 * 1024));
    expect_delta(f, 2, 2, 1 + 16 + 1, "64 KiB read, 16 descriptors");
    q.set_segment_size(0);

    // Stopping the ring unmaps its three areas; nothing else stays mapped.
    f = now();
    ASSERT_OK(s->stop());
    expect_delta(f, 0, 3, 0, "ring stop");
    expect_nothing_mapped("after GET_VRING_BASE");

    const Figures total = now();
    std::cout << "[ measured ] " << (grant() ? "grant" : "foreign") << ": worker map-calls="
              << total.map_calls - start.map_calls << " unmap-calls=" << total.unmap_calls - start.unmap_calls
              << " pages=" << total.pages - start.pages << "; double " << (total.dbl - start.dbl).describe()
              << " for " << 3 * N + 2 << " requests and one ring start/stop\n";
}

TEST_P(XenMappingTest, RequestsInFlightAreMappedOneByOne) {
    XenSessionOptions o = session();
    o.blk.depth = 16;
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    XenBlkQueue& q = s->blk();
    const Figures f = now();
    for (unsigned i = 0; i < 16; ++i) ASSERT_OK(q.submit(BlkCommand::in(2000 + i * 8, 8192)));
    q.flush();
    size_t done = 0;
    while (done < 16) {
        std::vector<BlkCompletion> cs;
        ASSERT_OK_AND_ASSIGN(cs, q.poll(10000, 16 - done));
        ASSERT_FALSE(cs.empty()) << "stalled after " << done;
        for (const auto& c : cs) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK);
        done += cs.size();
    }
    // Each 8 KiB read: 1 + (2 data + 1 status) pages in 2 calls.
    expect_delta(f, 32, 32, 64, "16 concurrent 8 KiB reads");
}

// A table change moves running rings to the new table: at most one new
// mapping per ring area, the old ones released; requests cost the same after.
void expect_ring_remap(const Figures& before, const Figures& after, const char* what) {
    EXPECT_LE(after.map_calls - before.map_calls, 3u) << what;
    EXPECT_EQ(after.map_calls - before.map_calls, after.unmap_calls - before.unmap_calls) << what;
    EXPECT_EQ(after.dbl.map_calls() - before.dbl.map_calls(), after.map_calls - before.map_calls) << what;
    std::cout << "[ measured ] " << what << ": " << after.map_calls - before.map_calls << " map and "
              << after.unmap_calls - before.unmap_calls << " unmap calls\n";
}

TEST_P(XenMappingTest, TableReplacedWhileRunningRemapsRingsOnce) {
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(session()));
    ASSERT_OK(s->blk().read(3000, 4096));
    Figures f = now();
    // The same table again: the running ring is moved to the new table.
    ASSERT_OK(s->send_table(s->regions()));
    expect_ring_remap(f, now(), "SET_MEM_TABLE while running");
    f = now();
    for (unsigned i = 0; i < 5; ++i) ASSERT_OK(s->blk().read(3100 + i * 8, 4096));
    expect_delta(f, 10, 10, 15, "reads after the new table");
}

TEST_P(XenMappingTest, BufferRegionRemovedAndAddedBack) {
    // REM_MEM_REG and ADD_MEM_REG carry 48-byte regions; the rings keep running.
    XenSessionOptions o = session();
    o.table = XenTableMessages::kAddMemReg;
    if (!grant()) {
        o.foreign_ram = {{0, 8ull << 20}, {8ull << 20, 24ull << 20}};
        o.ring_region = 0;
        o.buffer_region = 1;
    }
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    ASSERT_OK(s->blk().read(3500, 4096));
    const uint64_t buffer = s->blk().slot_pages(0).header_gpa | (grant() ? kGrantAddressFlag : 0);
    const RegionMessage* region = nullptr;
    for (const auto& r : s->regions())
        if (buffer >= r.region.guest_phys_addr && buffer - r.region.guest_phys_addr < r.region.memory_size)
            region = &r;
    ASSERT_NE(region, nullptr);
    Figures f = now();
    ASSERT_OK(s->client().rem_mem_reg(*region));
    expect_ring_remap(f, now(), "REM_MEM_REG of the buffer region");
    f = now();
    ASSERT_OK(s->client().add_mem_reg(*region));
    expect_ring_remap(f, now(), "ADD_MEM_REG of it again");
    f = now();
    ASSERT_OK(s->blk().read(3600, 4096));
    ASSERT_OK(s->blk().write(3700, random_bytes(1, 4096)));
    expect_delta(f, 4, 4, 6, "a read and a write after the region came back");
}

TEST_P(XenMappingTest, DisconnectUnmapsEverything) {
    const Figures f = now();
    {
        std::unique_ptr<XenBlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, open(session()));
        for (unsigned i = 0; i < 4; ++i) ASSERT_OK(s->blk().read(4000 + i * 8, 4096));
    }
    // The worker notices the disconnect asynchronously.
    for (int i = 0; i < 200; ++i) {
        auto st = worker_->status();
        if (st && !st->connected) break;
        ::usleep(10000);
    }
    expect_delta(f, 3 + 8, 3 + 8, 3 + 12, "session of 4 reads, then disconnect");
    expect_nothing_mapped("after disconnect");
}

INSTANTIATE_TEST_SUITE_P(Mapping, XenMappingTest, ::testing::Values(XenMapping::kGrant, XenMapping::kForeign),
                         [](const auto& info) { return info.param == XenMapping::kGrant ? "Grant" : "Foreign"; });

}  // namespace
}  // namespace xenvhost::component
