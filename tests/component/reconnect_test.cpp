// Front-ends that go away (idle, mid-negotiation, with I/O in flight) and
// the ones that come after them; SIGTERM while busy.
#include "fixture.hpp"

#include <sys/wait.h>

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

}  // namespace
}  // namespace xenvhost::component
