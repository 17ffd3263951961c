// Front-ends that go away (idle, mid-negotiation, with I/O in flight) and
// the ones that come after them; SIGTERM while busy.
#include "fixture.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <map>

namespace xenvhost::component {
namespace {

using ReconnectTest = BackendTest;

TEST_F(ReconnectTest, AfterIdleDisconnect) {
    for (int i = 0; i < 3; ++i) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, open());
        verified_io(s->blk(0), 26000 + i * 64, 8192, 70 + i);
    }
}

TEST_F(ReconnectTest, AfterDisconnectWithIoInFlight) {
    for (int round = 0; round < 3; ++round) {
        {
            std::unique_ptr<BlkSession> s;
            ASSERT_OK_AND_ASSIGN(s, open());
            auto data = random_bytes(round, 128 * 1024);
            for (unsigned i = 0; i < 32; ++i)
                ASSERT_OK(s->blk(0).submit(BlkCommand::out(27000 + i * 256, data)));
            s->blk(0).flush();
            // The session goes away here: socket closed, guest memory unmapped.
        }
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, open());
        verified_io(s->blk(0), 26500 + round * 64, 16384, 80 + round);
    }
}

TEST_F(ReconnectTest, AfterDisconnectMidNegotiation) {
    {
        auto c = Connection::connect(socket_);
        ASSERT_TRUE(c) << c.error().message;
        VhostClient client(std::move(*c));
        ASSERT_OK(client.get_features());
    }
    {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, connect());
        ASSERT_OK(s->prepare());  // memory table sent, no rings
    }
    {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, connect());
        ASSERT_OK(s->prepare());
        // One ring configured but never kicked.
        SplitQueue& q = s->queue(0);
        ASSERT_OK(s->client().set_vring_num(0, q.size()));
        ASSERT_OK(s->client().set_vring_base(0, 0));
    }
    expect_serves();
}

TEST_F(ReconnectTest, SigtermWhileBusy) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    auto data = random_bytes(90, 128 * 1024);
    for (unsigned i = 0; i < 32; ++i)
        ASSERT_OK(s->blk(0).submit(BlkCommand::out(28000 + i * 256, data)));
    s->blk(0).flush();
    auto st = backend_->stop(5000);
    ASSERT_TRUE(st) << st.error().message;
    if (is_worker()) {
        EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << describe_wait_status(*st);
    }
    s.reset();
    restart_backend(cfg_);
    expect_serves();
}

// The back-end crashes with requests in flight and a new one takes over:
// with the inflight area handed back, every request completes exactly once
// (a second completion of a head would be caught by the driver) and the
// image holds what was written.
class InflightRestartTest : public BackendTest, public ::testing::WithParamInterface<bool> {};

TEST_P(InflightRestartTest, EveryRequestCompletesOnce) {
    const bool wait_for_first = GetParam();
    SessionOptions o = default_session();
    o.inflight = true;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    if (!s->has_inflight_area()) {
        ASSERT_FALSE(is_worker()) << "the worker must offer INFLIGHT_SHMFD";
        GTEST_SKIP() << "back-end has no INFLIGHT_SHMFD";
    }
    std::map<uint64_t, std::vector<uint8_t>> written;
    for (unsigned i = 0; i < 32; ++i) {
        uint64_t sector = 9000 + i * 256;
        written[sector] = random_bytes(sector + 1, 128 * 1024);
        ASSERT_OK(s->blk(0).submit(BlkCommand::out(sector, written[sector])));
    }
    s->blk(0).flush();
    if (wait_for_first) {
        for (int i = 0; i < 5000 && s->queue(0).used_idx() == 0; ++i) ::usleep(200);
    }
    uint16_t before = s->queue(0).used_idx();
    auto killed = backend_->kill_now();
    ASSERT_TRUE(killed) << killed.error().message;
    restart_backend(cfg_, /*keep_image=*/true);
    ASSERT_OK(s->reconnect(socket_));
    size_t done = 0;
    while (done < 32) {
        std::vector<BlkCompletion> cs;
        ASSERT_OK_AND_ASSIGN(cs, s->blk(0).poll(10000, 32 - done));
        ASSERT_FALSE(cs.empty()) << done << " of 32 completed (" << before
                                 << " before the crash); the rest never came back";
        for (const auto& c : cs) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK);
        done += cs.size();
    }
    // Nothing completes twice afterwards either.
    ::usleep(200000);
    std::vector<BlkCompletion> extra;
    ASSERT_OK_AND_ASSIGN(extra, s->blk(0).poll(0, 1));
    EXPECT_TRUE(extra.empty());
    for (const auto& [sector, data] : written)
        EXPECT_EQ(first_difference(file_bytes(sector * kSectorSize, data.size()), data), -1)
            << "sector " << sector;
    RecordProperty("completed_before_crash", before);
    verified_io(s->blk(0), 26900, 4096, 95);
}

INSTANTIATE_TEST_SUITE_P(Crash, InflightRestartTest, ::testing::Bool(), [](const auto& info) {
    return info.param ? "AfterFirstCompletion" : "RightAfterKick";
});

}  // namespace
}  // namespace xenvhost::component
