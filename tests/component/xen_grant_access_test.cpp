// Each way of reaching grant buffers (--grant-access auto, map, per-access,
// copy) through the mapping double: data byte for byte across page
// boundaries and over several descriptors, the map and copy calls each
// request costs, and a grant the worker cannot read or write failing that
// request only (IOERR), whether a map or a copy hit it.
#include "fixture.hpp"

#include "frontend/xen_blk_session.hpp"
#include "memory/grant_access.hpp"
#include "xen_fixture.hpp"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace xenvhost::component {
namespace {

namespace xd = xendouble;

struct Counts {
    uint64_t maps = 0, unmaps = 0, copies = 0, segments = 0, copy_failures = 0, requests = 0;
    Counts operator-(const Counts& o) const {
        return {maps - o.maps, unmaps - o.unmaps, copies - o.copies, segments - o.segments,
                copy_failures - o.copy_failures, requests - o.requests};
    }
};

class XenGrantAccessTest : public XenWorkerFixture<::testing::TestWithParam<std::string>> {
protected:
    void SetUp() override {
        auto o = frontend::xen_worker_defaults(XENVHOST_BUILD_BIN);
        o.grant_access = GetParam();
        start_worker(o);
        XenSessionOptions so;
        so.mapping = XenMapping::kGrant;
        so.blk.max_data = 192 * 1024;
        auto s = XenBlkSession::connect(worker_->socket(), worker_->files(), so);
        ASSERT_TRUE(s) << s.error().message;
        session_ = std::move(*s);
        ASSERT_OK(session_->start());
    }
    void TearDown() override {
        session_.reset();
        XenWorkerFixture::TearDown();
    }
    bool copies() const { return GetParam() == "copy" || GetParam() == "auto"; }
    XenBlkQueue& q() { return session_->blk(); }
    Counts counts() {
        auto st = worker_->status();
        EXPECT_TRUE(st) << st.error().message;
        if (!st) return {};
        return {st->map_calls, st->unmap_calls, st->copy_calls, st->copy_segments, st->copy_failures, st->requests};
    }
    BlkCompletion one(const BlkCommand& cmd) {
        auto slot = q().submit(cmd);
        EXPECT_TRUE(slot) << slot.error().message;
        q().flush();
        auto cs = q().poll(10000, 1);
        EXPECT_TRUE(cs && cs->size() == 1) << (cs ? "no completion" : cs.error().message);
        return cs && !cs->empty() ? cs->front() : BlkCompletion{};
    }
    // Writes random bytes from a buffer `offset` bytes into the slot's data
    // pages, in descriptors of `segment` bytes, checks the image, reads them
    // back into the same place and compares.
    void round_trip(uint64_t sector, uint32_t len, uint32_t segment, uint32_t offset, uint64_t seed) {
        SCOPED_TRACE(::testing::Message() << len << " bytes at page offset " << offset << ", descriptors of "
                                          << (segment ? segment : len));
        q().set_segment_size(segment);
        const uint64_t gpa = q().slot_pages(0).data_gpa + offset;
        const auto data = random_bytes(seed, len);
        auto w = BlkCommand::out(sector, data);
        w.data_gpa = gpa;
        BlkCompletion c = one(w);
        ASSERT_EQ(c.status, VIRTIO_BLK_S_OK) << blk_status_name(c.status);
        auto file = pread_file(worker_->image(), sector * kSectorSize, len);
        ASSERT_TRUE(file) << file.error().message;
        ASSERT_EQ(first_difference(*file, data), -1) << "image differs after the write";
        auto r = BlkCommand::in(sector, len);
        r.data_gpa = gpa;
        c = one(r);
        ASSERT_EQ(c.status, VIRTIO_BLK_S_OK) << blk_status_name(c.status);
        ASSERT_EQ(c.used_len, len + 1);
        auto got = q().data(c);
        ASSERT_TRUE(got) << got.error().message;
        ASSERT_EQ(first_difference(*got, data), -1) << "read-back differs from what was written";
        q().set_segment_size(0);
    }

    std::unique_ptr<XenBlkSession> session_;
};

uint64_t page_of(uint64_t gpa) { return gpa / xd::kPageSize; }

TEST_P(XenGrantAccessTest, DataAcrossPagesAndDescriptors) {
    auto st = worker_->status();
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_EQ(st->grant_access, GetParam());
    round_trip(100, 512, 0, 0, 1);
    round_trip(200, 4096, 0, 0, 2);
    round_trip(300, 4096, 0, 1536, 3);           // over two pages
    round_trip(400, 16384, 4096, 0, 4);          // four descriptors
    round_trip(500, 16384, 1536, 512, 5);        // descriptors across page boundaries
    round_trip(600, 65536, 4096, 0, 6);          // sixteen descriptors
    round_trip(800, 65536, 0, 2048, 7);          // one descriptor over seventeen pages
    round_trip(1000, 128 * 1024, 32768, 1024, 8);  // above the copy threshold of auto
}

TEST_P(XenGrantAccessTest, CallsPerRequest) {
    constexpr uint64_t n = 8;
    const std::string mode = GetParam();
    struct Shape {
        uint32_t len, segment, descriptors;
    };
    for (const Shape& shape : {Shape{4096, 0, 1}, Shape{65536, 4096, 16}, Shape{131072, 4096, 32}}) {
        SCOPED_TRACE(::testing::Message() << shape.len << "-byte reads in " << shape.descriptors << " descriptor(s)");
        q().set_segment_size(shape.segment);
        const Counts c0 = counts();
        const XenDoubleCounters d0 = worker_->files().counters();
        for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(one(BlkCommand::in(2000 + i * 128, shape.len)).status, VIRTIO_BLK_S_OK);
        const Counts d = counts() - c0;
        const XenDoubleCounters dd = worker_->files().counters() - d0;
        EXPECT_EQ(d.requests, n);
        const uint64_t bytes = shape.len + 16 + 1;  // header and status too
        const bool copied = mode == "copy" || (mode == "auto" && bytes <= memory::kAutoCopyMaxBytes);
        if (copied) {
            EXPECT_EQ(d.maps, 0u);
            EXPECT_EQ(d.copies, 2 * n) << "one copy call per direction";
            EXPECT_EQ(d.segments, (shape.len / 4096 + 2) * n) << "header, data pages, status";
        } else {
            EXPECT_EQ(d.copies, 0u);
            // Header; data; status: batched by direction, or one map per descriptor.
            EXPECT_EQ(d.maps, (mode == "per-access" ? shape.descriptors + 2 : 2) * n);
            EXPECT_EQ(d.unmaps, d.maps);
        }
        EXPECT_EQ(dd[xd::kGrantCopyCalls], d.copies) << dd.describe();
        EXPECT_EQ(dd[xd::kGrantMapCalls], d.maps) << dd.describe();
        std::cout << "[ measured ] " << mode << ", " << shape.len << "-byte reads: "
                  << static_cast<double>(d.maps) / n << " map calls, " << static_cast<double>(d.copies) / n
                  << " copy calls (" << static_cast<double>(d.segments) / n << " segments) per request\n";
    }
}

TEST_P(XenGrantAccessTest, ReadOnlyGrantOfReadBufferIsIoError) {
    // The device cannot write the data back: with maps the writable map is
    // refused, with copies the copy back when the read completed.
    const Counts c0 = counts();
    unsigned slot;
    ASSERT_OK_AND_ASSIGN(slot, q().submit(BlkCommand::in(3000, 4096)));
    worker_->files().set_grant(page_of(q().slot_pages(slot).data_gpa), xd::kGrantedReadOnly);
    q().flush();
    auto cs = q().poll(10000, 1);
    ASSERT_TRUE(cs && cs->size() == 1);
    EXPECT_EQ(cs->front().status, VIRTIO_BLK_S_IOERR) << blk_status_name(cs->front().status);
    EXPECT_EQ(cs->front().used_len, 1u);
    if (copies()) {
        EXPECT_EQ((counts() - c0).copy_failures, 1u);
    }
    round_trip(3100, 8192, 0, 0, 9);  // the worker still serves
}

TEST_P(XenGrantAccessTest, RevokedWriteBufferIsIoErrorAndWritesNothing) {
    const auto before = pread_file(worker_->image(), 3200 * kSectorSize, 4096);
    ASSERT_TRUE(before) << before.error().message;
    const Counts c0 = counts();
    unsigned slot;
    ASSERT_OK_AND_ASSIGN(slot, q().submit(BlkCommand::out(3200, random_bytes(10, 4096))));
    worker_->files().set_grant(page_of(q().slot_pages(slot).data_gpa), xd::kNotGranted);
    q().flush();
    auto cs = q().poll(10000, 1);
    ASSERT_TRUE(cs && cs->size() == 1);
    EXPECT_EQ(cs->front().status, VIRTIO_BLK_S_IOERR) << blk_status_name(cs->front().status);
    const auto after = pread_file(worker_->image(), 3200 * kSectorSize, 4096);
    ASSERT_TRUE(after) << after.error().message;
    EXPECT_EQ(*after, *before) << "a request whose data could not be read wrote to the image";
    if (copies()) {
        EXPECT_EQ((counts() - c0).copy_failures, 1u);
    }
    round_trip(3300, 4096, 0, 0, 11);
}

INSTANTIATE_TEST_SUITE_P(Modes, XenGrantAccessTest, ::testing::Values("auto", "map", "per-access", "copy"),
                         [](const auto& info) {
                             std::string n = info.param;
                             for (auto& ch : n) if (ch == '-') ch = '_';
                             return n;
                         });

TEST(XenGrantAccessOption, BadValueRefused) {
    auto dir = TempDir::create("grant-access");
    ASSERT_TRUE(dir) << dir.error().message;
    const std::string log = dir->path() + "/worker.log";
    const std::string cmd = std::string(XENVHOST_BUILD_BIN) + "/xenvhost-worker --xen --grant-access batched" +
                            " --socket-path " + dir->path() + "/s --blk-file /dev/null 2>" + log;
    const int rc = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(rc));
    EXPECT_EQ(WEXITSTATUS(rc), 1);
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_NE(text.str().find("--grant-access: 'batched' is none of auto, map, per-access, copy"), std::string::npos)
        << text.str();
}

}  // namespace
}  // namespace xenvhost::component
