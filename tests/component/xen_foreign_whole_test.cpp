// Foreign regions mapped whole (the worker's default, --foreign-map whole):
// one privcmd batch per region when the table arrives, no map call per
// request, the region unmapped when the front-end goes; a region with a
// frame that is not there falls back to per-request mapping, so only the
// requests touching that frame fail.
#include "fixture.hpp"

#include "frontend/xen_blk_session.hpp"
#include "xen_fixture.hpp"

#include <signal.h>
#include <unistd.h>

#include <iostream>

namespace xenvhost::component {
namespace {

namespace xd = xendouble;
constexpr uint64_t MiB = 1ull << 20;

class XenForeignWholeTest : public XenWorkerFixture<> {
protected:
    void start_default_worker(uint64_t guest_pages = 8192) {
        XenWorkerOptions o = xen_worker_defaults(XENVHOST_BUILD_BIN);
        o.foreign_map = "";  // the worker's default
        o.guest_pages = guest_pages;
        start_worker(o);
    }
    Result<std::unique_ptr<XenBlkSession>> open(XenSessionOptions o = {}) {
        o.mapping = XenMapping::kForeign;
        o.blk.expect_unmapped = false;
        auto s = XenBlkSession::connect(worker_->socket(), worker_->files(), o);
        if (!s) return s;
        if (auto r = (*s)->start(); !r) return std::unexpected(r.error());
        return s;
    }
    void verified_io(XenBlkQueue& q, uint64_t sector, uint32_t len, uint64_t seed) {
        auto data = random_bytes(seed, len);
        ASSERT_OK(q.write(sector, data));
        auto file = pread_file(worker_->image(), sector * kSectorSize, len);
        ASSERT_TRUE(file) << file.error().message;
        ASSERT_EQ(first_difference(*file, data), -1) << "image differs after write";
        std::vector<uint8_t> back;
        ASSERT_OK_AND_ASSIGN(back, q.read(sector, len));
        ASSERT_EQ(first_difference(back, data), -1) << "read-back differs";
    }
    control::DeviceStatus status() {
        auto st = worker_->status();
        EXPECT_TRUE(st) << st.error().message;
        return st ? *st : control::DeviceStatus{};
    }

};

TEST_F(XenForeignWholeTest, OneMapPerRegionNonePerRequest) {
    start_default_worker((24 * MiB) / 4096);
    XenSessionOptions o;
    o.foreign_ram = {{0, 8 * MiB}, {16 * MiB, 8 * MiB}};
    o.ring_region = 1;
    o.buffer_region = 0;
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    const auto st0 = status();
    EXPECT_EQ(st0.map_calls, 2u) << "one map call per region";
    EXPECT_EQ(st0.pages_mapped, (16 * MiB) / 4096);
    EXPECT_EQ(st0.mapping, "foreign");
    for (unsigned i = 0; i < 40; ++i) verified_io(s->blk(), 100 + i * 64, i % 2 ? 4096 : 64 * 1024, i);
    ASSERT_OK(s->blk().flush_cache());
    const auto st1 = status();
    EXPECT_EQ(st1.map_calls, st0.map_calls) << "requests were mapped one by one";
    EXPECT_EQ(st1.unmap_calls, 0u);
    EXPECT_GE(st1.requests, st0.requests + 81);
    s.reset();
    // The front-end went away: both regions are unmapped.
    bool released = false;
    for (int i = 0; i < 200 && !released; ++i) {
        const auto st = status();
        released = !st.connected && st.unmap_calls == 2;
        if (!released) ::usleep(10000);
    }
    EXPECT_TRUE(released) << "regions still mapped after the disconnect: unmap calls " << status().unmap_calls;
    EXPECT_EQ(worker_->files().counters()[xd::kForeignMapCalls], worker_->files().counters()[xd::kForeignUnmapCalls]);
}

// SIGUSR1: each running ring is described, its indexes read once through
// the ring's long-lived mapping and once through a mapping made for the
// report; on a healthy mapping the two agree with the requests served.
TEST_F(XenForeignWholeTest, RingReportReadsTheIndexesThroughANewMapping) {
    start_default_worker();
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    for (unsigned i = 0; i < 5; ++i) verified_io(s->blk(), 64 + i * 64, 4096, 0x900 + i);
    const uint64_t calls_before = worker_->files().counters()[xd::kForeignMapCalls];
    ASSERT_EQ(::kill(worker_->process().pid(), SIGUSR1), 0);
    std::string line;
    for (int i = 0; i < 300 && line.empty(); ++i) {
        const std::string log = worker_->log_tail(20000);
        if (auto at = log.find("through a new mapping"); at != std::string::npos) {
            const auto begin = log.rfind('\n', at) + 1;
            line = log.substr(begin, log.find('\n', at) - begin);
        } else {
            ::usleep(10000);
        }
    }
    ASSERT_FALSE(line.empty()) << "no ring report after SIGUSR1";
    // 5 writes and 5 reads: 10 heads taken, used and published.
    EXPECT_NE(line.find("driver's avail idx 10, taken up to 10, used idx 10 (published 10), 0 in flight"),
              std::string::npos) << line;
    EXPECT_NE(line.find("through a new mapping: avail 10 used 10"), std::string::npos) << line;
    EXPECT_GT(worker_->files().counters()[xd::kForeignMapCalls], calls_before) << "the report mapped nothing new";
}

// --verify-guest-writes: every buffer a request wrote (the read data and
// the status byte) is read back through a new mapping before the request
// completes; on a healthy mapping none differs, and SIGUSR1 says so.
TEST_F(XenForeignWholeTest, VerifiedWritesReadBackTheSame) {
    XenWorkerOptions o = xen_worker_defaults(XENVHOST_BUILD_BIN);
    o.foreign_map = "";
    o.verify_guest_writes = true;
    start_worker(o);
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    const uint64_t calls_before = worker_->files().counters()[xd::kForeignMapCalls];
    for (unsigned i = 0; i < 6; ++i) verified_io(s->blk(), 128 + i * 64, i % 2 ? 4096 : 32 * 1024, 0xa00 + i);
    // Each of the 12 requests wrote at least its status byte; the 6 reads their data too.
    EXPECT_GE(worker_->files().counters()[xd::kForeignMapCalls], calls_before + 12) << "nothing was read back";
    ASSERT_EQ(::kill(worker_->process().pid(), SIGUSR1), 0);
    bool reported = false;
    std::string log;
    for (int i = 0; i < 300 && !reported; ++i) {
        log = worker_->log_tail(20000);
        reported = log.find("read back through a new mapping, 0 differed") != std::string::npos;
        if (!reported) ::usleep(10000);
    }
    EXPECT_TRUE(reported) << log;
    EXPECT_EQ(log.find("differs through a new mapping"), std::string::npos) << log;
}

TEST_F(XenForeignWholeTest, MissingFrameFallsBackToPerRequest) {
    start_default_worker();
    // A frame far from the rings and the slot buffers is not there when the
    // table arrives: the whole map fails, the region is mapped per request.
    const uint64_t missing = 8000;
    worker_->files().set_frame_missing(missing, true);
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    const auto st0 = status();
    EXPECT_EQ(st0.map_failures, 1u);
    verified_io(s->blk(), 300, 8192, 1);
    const auto st1 = status();
    EXPECT_GT(st1.map_calls, st0.map_calls) << "the region was not mapped per request after the failed whole map";
    EXPECT_EQ(st1.map_failures, st0.map_failures);
    worker_->files().set_frame_missing(missing, false);
    EXPECT_NE(worker_->log_tail(4000).find("mapping it per request instead"), std::string::npos);
}

}  // namespace
}  // namespace xenvhost::component
