// Mappings that fail for one request: a grant revoked (or granted read-only
// to a device write) before the worker maps the request, a foreign frame
// that is not there. That request completes with IOERR through its status
// byte, the worker counts the failure and keeps serving.
#include "fixture.hpp"

#include "frontend/xen_blk_session.hpp"
#include "xen_fixture.hpp"

#include <iostream>

namespace xenvhost::component {
namespace {

namespace xd = xendouble;

struct Counts {
    uint64_t maps, unmaps, pages, failures;
};

class XenFaultTest : public XenWorkerFixture<> {
protected:
    void SetUp() override { start_worker(); }
    Result<std::unique_ptr<XenBlkSession>> open(XenMapping mapping) {
        XenSessionOptions o;
        o.mapping = mapping;
        auto s = XenBlkSession::connect(worker_->socket(), worker_->files(), o);
        if (!s) return s;
        if (auto r = (*s)->start(); !r) return std::unexpected(r.error());
        return s;
    }
    Counts worker_counts() {
        auto st = worker_->status();
        EXPECT_TRUE(st) << st.error().message;
        return st ? Counts{st->map_calls, st->unmap_calls, st->pages_mapped, st->map_failures} : Counts{};
    }
    static Counts delta(const Counts& a, const Counts& b) {
        return {b.maps - a.maps, b.unmaps - a.unmaps, b.pages - a.pages, b.failures - a.failures};
    }
    // The request in `slot` after the test broke one of its pages.
    BlkCompletion complete_one(XenBlkQueue& q) {
        q.flush();
        auto cs = q.poll(10000, 1);
        EXPECT_TRUE(cs) << cs.error().message;
        EXPECT_TRUE(cs && cs->size() == 1) << "the request did not complete";
        return cs && !cs->empty() ? cs->front() : BlkCompletion{};
    }
    // Fresh verified I/O on the same queue: the worker still serves.
    void expect_serves(XenBlkQueue& q, uint64_t sector, uint64_t seed) {
        auto data = random_bytes(seed, 8192);
        ASSERT_OK(q.write(sector, data));
        auto file = pread_file(worker_->image(), sector * kSectorSize, data.size());
        ASSERT_TRUE(file) << file.error().message;
        EXPECT_EQ(first_difference(*file, data), -1);
        std::vector<uint8_t> back;
        ASSERT_OK_AND_ASSIGN(back, q.read(sector, 8192));
        EXPECT_EQ(first_difference(back, data), -1);
    }

};

uint64_t page_of(uint64_t gpa) { return gpa / xd::kPageSize; }

TEST_F(XenFaultTest, RevokedDataGrantFailsThatRequestOnly) {
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(XenMapping::kGrant));
    XenBlkQueue& q = s->blk();
    ASSERT_OK(q.read(100, 4096));
    const Counts w0 = worker_counts();
    const XenDoubleCounters d0 = worker_->files().counters();
    unsigned slot;
    ASSERT_OK_AND_ASSIGN(slot, q.submit(BlkCommand::in(200, 4096)));
    worker_->files().set_grant(page_of(q.slot_pages(slot).data_gpa), xd::kNotGranted);
    BlkCompletion c = complete_one(q);
    EXPECT_EQ(c.status, VIRTIO_BLK_S_IOERR) << blk_status_name(c.status);
    // Header batch mapped (1 page), data+status batch refused, then the
    // status byte alone mapped to report the error (1 page).
    const Counts w = delta(w0, worker_counts());
    EXPECT_EQ(w.maps, 3u);
    EXPECT_EQ(w.failures, 1u);
    EXPECT_EQ(w.unmaps, 2u);
    EXPECT_EQ(w.pages, 2u);
    const XenDoubleCounters d = worker_->files().counters() - d0;
    EXPECT_EQ(d[xd::kGrantMapCalls], 3u) << d.describe();
    EXPECT_EQ(d[xd::kFailures], 1u) << d.describe();
    EXPECT_EQ(d[xd::kGrantUnmapCalls], 2u) << d.describe();
    EXPECT_EQ(d[xd::kGrantPagesMapped], 2u) << d.describe();
    expect_serves(q, 300, 1);
    auto st = worker_->status();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_TRUE(st->connected);
}

TEST_F(XenFaultTest, RevokedHeaderGrant) {
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(XenMapping::kGrant));
    XenBlkQueue& q = s->blk();
    const Counts w0 = worker_counts();
    unsigned slot;
    ASSERT_OK_AND_ASSIGN(slot, q.submit(BlkCommand::out(400, random_bytes(2, 4096))));
    worker_->files().set_grant(page_of(q.slot_pages(slot).header_gpa), xd::kNotGranted);
    const auto before = pread_file(worker_->image(), 400 * kSectorSize, 4096);
    ASSERT_TRUE(before) << before.error().message;
    BlkCompletion c = complete_one(q);
    EXPECT_EQ(c.status, VIRTIO_BLK_S_IOERR) << blk_status_name(c.status);
    const auto after = pread_file(worker_->image(), 400 * kSectorSize, 4096);
    ASSERT_TRUE(after) << after.error().message;
    EXPECT_EQ(*after, *before) << "a request without a readable header wrote to the image";
    const Counts w = delta(w0, worker_counts());
    EXPECT_EQ(w.maps, 2u);  // refused read-only batch, then the status byte
    EXPECT_EQ(w.failures, 1u);
    EXPECT_EQ(w.unmaps, 1u);
    expect_serves(q, 500, 3);
}

TEST_F(XenFaultTest, RevokedStatusGrantCompletesWithoutStatus) {
    // Nothing is left to report the error through: the request completes
    // with nothing written, and the ring goes on.
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(XenMapping::kGrant));
    XenBlkQueue& q = s->blk();
    const Counts w0 = worker_counts();
    unsigned slot;
    ASSERT_OK_AND_ASSIGN(slot, q.submit(BlkCommand::in(600, 4096)));
    worker_->files().set_grant(page_of(q.slot_pages(slot).status_gpa), xd::kNotGranted);
    BlkCompletion c = complete_one(q);
    EXPECT_EQ(c.status, kStatusUnwritten) << blk_status_name(c.status);
    EXPECT_EQ(c.used_len, 0u);
    const Counts w = delta(w0, worker_counts());
    EXPECT_EQ(w.maps, 3u);
    EXPECT_EQ(w.failures, 2u);
    expect_serves(q, 700, 4);
}

TEST_F(XenFaultTest, ReadOnlyGrantForDeviceWrittenBuffer) {
    // A driver that grants a read buffer read-only: gntdev refuses the
    // writable mapping.
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(XenMapping::kGrant));
    XenBlkQueue& q = s->blk();
    const XenDoubleCounters d0 = worker_->files().counters();
    unsigned slot;
    ASSERT_OK_AND_ASSIGN(slot, q.submit(BlkCommand::in(800, 4096)));
    worker_->files().set_grant(page_of(q.slot_pages(slot).data_gpa), xd::kGrantedReadOnly);
    BlkCompletion c = complete_one(q);
    EXPECT_EQ(c.status, VIRTIO_BLK_S_IOERR) << blk_status_name(c.status);
    EXPECT_EQ((worker_->files().counters() - d0)[xd::kFailures], 1u);
    expect_serves(q, 900, 5);
}

TEST_F(XenFaultTest, RevokedGrantOnEveryOtherRequest) {
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(XenMapping::kGrant));
    XenBlkQueue& q = s->blk();
    for (unsigned i = 0; i < 20; ++i) {
        unsigned slot;
        ASSERT_OK_AND_ASSIGN(slot, q.submit(BlkCommand::in(1000 + i * 8, 4096)));
        if (i % 2) worker_->files().set_grant(page_of(q.slot_pages(slot).data_gpa), xd::kNotGranted);
        BlkCompletion c = complete_one(q);
        ASSERT_EQ(c.status, i % 2 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK) << "request " << i;
    }
    auto st = worker_->status();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(st->map_failures, 10u);
    expect_serves(q, 1200, 6);
}

TEST_F(XenFaultTest, MissingForeignFrame) {
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(XenMapping::kForeign));
    XenBlkQueue& q = s->blk();
    ASSERT_OK(q.read(1300, 4096));
    const Counts w0 = worker_counts();
    const XenDoubleCounters d0 = worker_->files().counters();
    unsigned slot;
    ASSERT_OK_AND_ASSIGN(slot, q.submit(BlkCommand::in(1400, 4096)));
    const uint64_t frame = page_of(q.slot_pages(slot).data_gpa);
    worker_->files().set_frame_missing(frame, true);
    BlkCompletion c = complete_one(q);
    EXPECT_EQ(c.status, VIRTIO_BLK_S_IOERR) << blk_status_name(c.status);
    const Counts w = delta(w0, worker_counts());
    EXPECT_EQ(w.maps, 3u);
    EXPECT_EQ(w.failures, 1u);
    EXPECT_EQ(w.unmaps, 2u);
    EXPECT_EQ(w.pages, 2u);
    // privcmd maps what it can and reports the missing frame in err[]; the
    // worker then unmaps that partial mapping: one more unmap and one more
    // page than the worker counts as its own.
    const XenDoubleCounters d = worker_->files().counters() - d0;
    EXPECT_EQ(d[xd::kForeignMapCalls], 3u) << d.describe();
    EXPECT_EQ(d[xd::kForeignUnmapCalls], 3u) << d.describe();
    EXPECT_EQ(d[xd::kForeignPagesMapped], 3u) << d.describe();
    EXPECT_EQ(d[xd::kFailures], 1u) << d.describe();
    // The frame is back: the same slot's pages work again.
    worker_->files().set_frame_missing(frame, false);
    expect_serves(q, 1500, 7);
}

TEST_F(XenFaultTest, MissingFrameOnEveryThirdRequest) {
    std::unique_ptr<XenBlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(XenMapping::kForeign));
    XenBlkQueue& q = s->blk();
    for (unsigned i = 0; i < 12; ++i) {
        unsigned slot;
        ASSERT_OK_AND_ASSIGN(slot, q.submit(BlkCommand::out(1600 + i * 8, random_bytes(i, 4096))));
        const uint64_t frame = page_of(q.slot_pages(slot).data_gpa);
        worker_->files().set_frame_missing(frame, i % 3 == 0);
        BlkCompletion c = complete_one(q);
        ASSERT_EQ(c.status, i % 3 == 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK) << "request " << i;
        worker_->files().set_frame_missing(frame, false);
    }
    expect_serves(q, 1800, 8);
}

TEST_F(XenFaultTest, MissingRingFrameRefusesTheRing) {
    // The ring cannot be mapped: the message that would start it is refused,
    // the connection stays, and once the frame is back a new front-end works.
    XenSessionOptions o;
    o.mapping = XenMapping::kForeign;
    auto s = XenBlkSession::connect(worker_->socket(), worker_->files(), o);
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_OK((*s)->prepare());
    const uint64_t used_frame = page_of((*s)->queue(0).used_gpa());
    worker_->files().set_frame_missing(used_frame, true);
    auto started = (*s)->start();
    EXPECT_FALSE(started) << "a ring whose used ring cannot be mapped was started";
    auto f = (*s)->client().get_features();
    EXPECT_TRUE(f) << "connection lost after a refused ring: " << f.error().message;
    s->reset();  // one front-end at a time
    worker_->files().set_frame_missing(used_frame, false);
    std::unique_ptr<XenBlkSession> again;
    ASSERT_OK_AND_ASSIGN(again, open(XenMapping::kForeign));
    expect_serves(again->blk(), 1900, 9);
}

// A driver domain under Xen's default XSM policy: every foreign map of the
// guest is refused page by page with EPERM. The worker reports it as a
// refusal that says what to change (xenvhostd turns it into the device's
// xenvhost-error), not as a missing frame.
class ForeignRefusedTest : public XenWorkerFixture<> {
protected:
    void SetUp() override {
        ::setenv(xendouble::kForeignEnv, "refused", 1);  // the worker inherits it
        start_worker();
        ::unsetenv(xendouble::kForeignEnv);
    }
};

TEST_F(ForeignRefusedTest, RingRefusedAndTheStatusSaysWhy) {
    XenSessionOptions o;
    o.mapping = XenMapping::kForeign;
    auto s = XenBlkSession::connect(worker_->socket(), worker_->files(), o);
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_OK((*s)->prepare());
    EXPECT_FALSE((*s)->start()) << "a ring in memory Xen refuses to map was started";
    // The refused ring ends the connection; the status carries the reason.
    s->reset();
    auto st = worker_->status();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_NE(st->last_error.find("privilege refused: this domain may not map guest 7's memory by foreign mapping"),
              std::string::npos)
        << st->last_error;
    EXPECT_GT(st->map_failures, 0u);
}

}  // namespace
}  // namespace xenvhost::component
