// The supervising end of a control channel against a scripted worker on a
// real unix socket: replies matched in order, events passed on, and a worker
// that misbehaves reported as a lost connection.

#include "control/client.hpp"
#include "event/event_loop.hpp"
#include "event/timer.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

namespace xenvhost::control {
namespace {

// Each step: the line the worker expects (empty: expect nothing) and what it sends back.
struct Step {
    std::string expect;
    std::string send;
};

class ControlClientTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/xenvhost-cc.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        path = dir + "/control";
        listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        ASSERT_EQ(::listen(listener, 1), 0);
        auto l = event::EventLoop::create();
        ASSERT_TRUE(l.has_value());
        loop = std::move(*l);
        auto t = event::Timer::create(*loop, [this] {
            timed_out = true;
            loop->stop();
        });
        ASSERT_TRUE(t.has_value());
        guard = std::move(*t);
        guard->arm(std::chrono::milliseconds(5000));
    }
    void TearDown() override {
        if (worker.joinable()) worker.join();
        client.reset();
        guard.reset();
        ::close(listener);
        (void)!std::system(("rm -rf " + dir).c_str());
    }
    // Plays `steps` as the worker on a thread, then closes the connection if `hang_up`.
    void play(std::vector<Step> steps, bool hang_up = false) {
        worker = std::thread([this, steps, hang_up] {
            int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
            std::string buf;
            for (auto& s : steps) {
                if (!s.expect.empty()) {
                    while (buf.find('\n') == std::string::npos) {
                        char tmp[1024];
                        ssize_t n = ::read(fd, tmp, sizeof tmp);
                        if (n <= 0) break;
                        buf.append(tmp, static_cast<size_t>(n));
                    }
                    auto nl = buf.find('\n');
                    std::string line = nl == std::string::npos ? buf : buf.substr(0, nl);
                    buf.erase(0, nl == std::string::npos ? buf.size() : nl + 1);
                    if (line.rfind(s.expect, 0) != 0) seen_unexpected = line;
                }
                (void)!::write(fd, s.send.data(), s.send.size());
            }
            if (hang_up) ::close(fd);
            else worker_fd = fd;
        });
    }
    void connect(Client::Callbacks cb = {}) {
        if (!cb.event) cb.event = [this](const DeviceStatus& s) { events.push_back(s); };
        if (!cb.lost) cb.lost = [this](const std::string& why) {
            lost = why;
            loop->stop();
        };
        auto c = Client::connect(*loop, path, std::move(cb));
        ASSERT_TRUE(c.has_value()) << c.error().message;
        client = std::move(*c);
    }
    void run() {
        auto r = loop->run();
        ASSERT_TRUE(r.has_value());
        ASSERT_FALSE(timed_out) << "nothing happened within 5 s";
    }

    std::string dir, path;
    int listener = -1;
    int worker_fd = -1;
    std::thread worker;
    std::string seen_unexpected;
    std::unique_ptr<event::EventLoop> loop;
    std::unique_ptr<event::Timer> guard;
    std::unique_ptr<Client> client;
    std::vector<DeviceStatus> events;
    std::string lost;
    bool timed_out = false;
};

TEST_F(ControlClientTest, RepliesInOrderWithEventsBetween) {
    play({{"add name=d0 ", "event device name=d0 connected=1 mapping=mmap\nok\n"},
          {"add name=d1 ", "error cannot open /missing: No such file or directory\n"},
          {"status", "device name=d0 socket=/s0 connected=1\nevent device name=d0 connected=0\ndevice name=d1\nend\n"}});
    connect();
    std::vector<std::string> results;
    DeviceSpec s0, s1;
    s0.name = "d0", s0.socket_path = "/s0", s0.blk_file = "/img";
    s1.name = "d1", s1.socket_path = "/s1", s1.blk_file = "/missing";
    client->send(AddCommand{s0}, [&](auto r) { results.push_back(r ? "ok" : "error: " + r.error().message); });
    client->send(AddCommand{s1}, [&](auto r) { results.push_back(r ? "ok" : "error: " + r.error().message); });
    client->send(StatusCommand{}, [&](auto r) {
        ASSERT_TRUE(r.has_value());
        results.push_back("status " + std::to_string(r->size()));
        EXPECT_EQ((*r)[0].socket_path, "/s0");
        EXPECT_TRUE((*r)[0].connected);
        loop->stop();
    });
    EXPECT_EQ(client->pending(), 3u);
    run();
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(results[0], "ok");
    EXPECT_EQ(results[1], "error: cannot open /missing: No such file or directory");
    EXPECT_EQ(results[2], "status 2");
    ASSERT_EQ(events.size(), 2u);
    EXPECT_TRUE(events[0].connected);
    EXPECT_EQ(events[0].mapping, "mmap");
    EXPECT_FALSE(events[1].connected);
    EXPECT_EQ(seen_unexpected, "");
    EXPECT_EQ(client->pending(), 0u);
}

TEST_F(ControlClientTest, MalformedLineLosesTheConnection) {
    play({{"ping", "bonjour\n"}});
    connect();
    bool replied = false;
    client->send(PingCommand{}, [&](auto) { replied = true; });
    run();
    EXPECT_FALSE(replied);
    EXPECT_NE(lost.find("malformed"), std::string::npos) << lost;
}

TEST_F(ControlClientTest, UnaskedReplyLosesTheConnection) {
    play({{"", "ok\n"}});
    connect();
    run();
    EXPECT_NE(lost.find("nobody asked"), std::string::npos) << lost;
}

TEST_F(ControlClientTest, WrongReplyKindLosesTheConnection) {
    play({{"ping", "end\n"}});
    connect();
    client->send(PingCommand{}, [](auto) {});
    run();
    EXPECT_NE(lost.find("does not match"), std::string::npos) << lost;
}

TEST_F(ControlClientTest, WorkerHangingUpIsReported) {
    play({{"ping", ""}}, true);
    Client::Callbacks cb;
    cb.peer = "worker";
    connect(std::move(cb));
    client->send(PingCommand{}, [](auto) {});
    run();
    EXPECT_NE(lost.find("worker closed"), std::string::npos) << lost;
}

TEST_F(ControlClientTest, ClientMayBeDestroyedFromItsOwnCallback) {
    play({{"ping", "ok\nok\n"}});
    connect();
    client->send(PingCommand{}, [&](auto) {
        client.reset();  // the second "ok" must not be looked at
        loop->stop();
    });
    run();
    EXPECT_EQ(client, nullptr);
    EXPECT_EQ(lost, "");
}

TEST(ControlClientConnect, NotListeningYetIsRecognisable) {
    auto l = event::EventLoop::create();
    ASSERT_TRUE(l.has_value());
    auto c = Client::connect(**l, "/tmp/xenvhost-no-such-dir/control", {});
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().kind, ErrorKind::kPeerGone);  // not listening (yet)
}

}  // namespace
}  // namespace xenvhost::control
