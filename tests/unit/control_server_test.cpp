// The serving end of a control channel over a real unix socket, with a
// recording Handler: commands reach the handler, replies and events reach the
// clients, garbage gets an error and never takes the channel down.

#include "base/eventfd.hpp"
#include "control/fd_passing.hpp"
#include "control/server.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <span>
#include <future>
#include <thread>

namespace xenvhost::control {
namespace {

class RecordingHandler : public Handler {
public:
    Result<> add_device(const DeviceSpec& spec) override {
        if (spec.blk_file == "/refuse") return fail("cannot open {}: refused", spec.blk_file);
        added.push_back(spec);
        if (on_add) on_add(spec);
        return {};
    }
    Result<> remove_device(std::string_view name) override {
        for (auto it = added.begin(); it != added.end(); ++it)
            if (it->name == name) {
                added.erase(it);
                return {};
            }
        return fail("no device {}", name);
    }
    std::vector<DeviceStatus> status() const override {
        std::vector<DeviceStatus> out;
        for (auto& s : added) {
            DeviceStatus d;
            d.name = s.name;
            d.socket_path = s.socket_path;
            out.push_back(d);
        }
        return out;
    }
    std::vector<DeviceSpec> added;
    std::function<void(const DeviceSpec&)> on_add;
};

class Client {
public:
    explicit Client(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        connected = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~Client() { ::close(fd_); }
    void send(const std::string& s) { ASSERT_EQ(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL), (ssize_t)s.size()); }
    void send(const std::string& s, std::span<const int> fds) {
        ASSERT_EQ(send_with_fds(fd_, s, fds), (ssize_t)s.size());
    }
    // One line without its '\n'; "<eof>" or "<timeout>" otherwise.
    std::string line(int timeout_ms = 5000) {
        for (;;) {
            auto nl = buf_.find('\n');
            if (nl != std::string::npos) {
                std::string l = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                return l;
            }
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, timeout_ms) != 1) return "<timeout>";
            char tmp[8192];
            ssize_t n = ::read(fd_, tmp, sizeof tmp);
            if (n <= 0) return "<eof>";
            buf_.append(tmp, static_cast<size_t>(n));
        }
    }
    bool connected = false;

private:
    int fd_;
    std::string buf_;
};

class ControlServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/xenvhost-ctl.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        path = dir + "/control";
        auto l = event::EventLoop::create();
        ASSERT_TRUE(l.has_value());
        loop = std::move(*l);
        auto wake = make_eventfd();
        ASSERT_TRUE(wake.has_value());
        stop_fd = std::move(*wake);
        ASSERT_TRUE(loop->add(stop_fd.get(), EPOLLIN, [this](uint32_t) {
                            eventfd_drain(stop_fd.get());
                            std::function<void()> job;
                            {
                                std::lock_guard lock(mutex);
                                job = std::exchange(pending_job, nullptr);
                            }
                            if (job) job();
                            else loop->stop();
                        }).has_value());
        auto ch = Server::create(*loop, handler, path);
        ASSERT_TRUE(ch.has_value()) << ch.error().message;
        channel = std::move(*ch);
        thread = std::thread([this] { EXPECT_TRUE(loop->run().has_value()); });
    }
    void TearDown() override {
        if (thread.joinable()) {
            eventfd_signal(stop_fd.get());
            thread.join();
        }
        channel.reset();
        (void)!std::system(("rm -rf " + dir).c_str());
    }
    // Runs `fn` on the loop thread and waits for it.
    void on_loop(std::function<void()> fn) {
        std::promise<void> done;
        {
            std::lock_guard lock(mutex);
            pending_job = [&] {
                fn();
                done.set_value();
            };
        }
        eventfd_signal(stop_fd.get());
        done.get_future().wait();
    }

    std::string dir, path;
    RecordingHandler handler;
    std::unique_ptr<event::EventLoop> loop;
    std::unique_ptr<Server> channel;
    UniqueFd stop_fd;
    std::thread thread;
    std::mutex mutex;
    std::function<void()> pending_job;
};

TEST_F(ControlServerTest, SocketIsPrivate) {
    struct stat st{};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ControlServerTest, AddRemoveStatus) {
    Client c(path);
    ASSERT_TRUE(c.connected);
    c.send("add name=virtio_disk-51712 socket=/run/a%20b.sock blk-file=/srv/g.img read-only=1 num-queues=2\n");
    EXPECT_EQ(c.line(), "ok");
    c.send("status\n");
    std::string dev = c.line();
    EXPECT_EQ(dev.rfind("device name=virtio_disk-51712 socket=/run/a%20b.sock connected=0", 0), 0u) << dev;
    EXPECT_EQ(c.line(), "end");
    on_loop([&] {
        ASSERT_EQ(handler.added.size(), 1u);
        EXPECT_EQ(handler.added[0].socket_path, "/run/a b.sock");
        EXPECT_TRUE(handler.added[0].read_only);
        EXPECT_EQ(handler.added[0].num_queues, 2);
    });
    c.send("add name=x socket=/s blk-file=/refuse\n");
    EXPECT_EQ(c.line(), "error cannot open /refuse: refused");
    c.send("remove name=virtio_disk-51712\nremove name=virtio_disk-51712\nping\n");
    EXPECT_EQ(c.line(), "ok");
    EXPECT_EQ(c.line().rfind("error no device", 0), 0u);
    EXPECT_EQ(c.line(), "ok");
    c.send("status\n");
    EXPECT_EQ(c.line(), "end");
}

// An add may bring the image and the listening socket as fds: the handler
// sees them (the same open files) in the spec, and they are closed afterwards.
TEST_F(ControlServerTest, AddWithFdsHandsThemToTheHandler) {
    int pipe1[2], pipe2[2];
    ASSERT_EQ(::pipe2(pipe1, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(pipe2, O_CLOEXEC), 0);
    UniqueFd r1(pipe1[0]), w1(pipe1[1]), r2(pipe2[0]), w2(pipe2[1]);
    struct stat want_blk{}, want_sock{};
    ASSERT_EQ(::fstat(r1.get(), &want_blk), 0);
    ASSERT_EQ(::fstat(r2.get(), &want_sock), 0);
    bool same_blk = false, same_sock = false;
    handler.on_add = [&](const DeviceSpec& spec) {
        struct stat got{};
        same_blk = ::fstat(spec.blk_fd, &got) == 0 && got.st_ino == want_blk.st_ino;
        same_sock = ::fstat(spec.socket_fd, &got) == 0 && got.st_ino == want_sock.st_ino;
    };
    Client c(path);
    ASSERT_TRUE(c.connected);
    const int fds[] = {r1.get(), r2.get()};
    c.send("add name=d0 socket=/s blk-file=/img blk-fd=1 socket-fd=1\n", fds);
    EXPECT_EQ(c.line(), "ok");
    on_loop([&] { EXPECT_EQ(handler.added.size(), 1u); });
    EXPECT_TRUE(same_blk);
    EXPECT_TRUE(same_sock);
    // The server kept no copy: with ours closed, the write end sees no reader.
    r1.reset();
    on_loop([] {});
    pollfd p{w1.get(), POLLOUT, 0};
    ASSERT_EQ(::poll(&p, 1, 0), 1);
    EXPECT_TRUE(p.revents & POLLERR);
}

TEST_F(ControlServerTest, AddAnnouncingFdsThatDidNotComeIsRefused) {
    Client c(path);
    ASSERT_TRUE(c.connected);
    c.send("add name=d0 socket=/s blk-file=/img blk-fd=1\n");
    EXPECT_NE(c.line().find("did not come with it"), std::string::npos);
    on_loop([&] { EXPECT_TRUE(handler.added.empty()); });
}

TEST_F(ControlServerTest, GarbageGetsAnErrorAndTheConnectionStaysUsable) {
    Client c(path);
    for (std::string bad : std::vector<std::string>{"hello", "add name=a", "add name=a socket=/s blk-file=/f num-queues=0",
                            std::string("\x01\x02\xff"), "remove name=../x", "status please"}) {
        c.send(bad + "\n");
        std::string reply = c.line();
        EXPECT_EQ(reply.rfind("error ", 0), 0u) << bad << " -> " << reply;
    }
    c.send("ping\r\n");  // CRLF is tolerated
    EXPECT_EQ(c.line(), "ok");
    on_loop([&] { EXPECT_TRUE(handler.added.empty()); });
}

TEST_F(ControlServerTest, OverlongLineClosesOnlyThatClient) {
    Client bad(path), good(path);
    bad.send(std::string(5000, 'a'));
    EXPECT_EQ(bad.line(), "error line too long");
    EXPECT_EQ(bad.line(), "<eof>");
    good.send("ping\n");
    EXPECT_EQ(good.line(), "ok");
}

TEST_F(ControlServerTest, EventsReachEveryClientBeforeTheReply) {
    Client a(path), b(path);
    a.send("ping\n");
    EXPECT_EQ(a.line(), "ok");
    b.send("ping\n");
    EXPECT_EQ(b.line(), "ok");
    handler.on_add = [this](const DeviceSpec& spec) {
        DeviceStatus s;
        s.name = spec.name;
        s.connected = true;
        s.mapping = "grant";
        channel->notify(s);
    };
    a.send("add name=d0 socket=/s blk-file=/f\n");
    std::string ev = a.line();
    EXPECT_EQ(ev.rfind("event device name=d0 ", 0), 0u) << ev;
    EXPECT_NE(ev.find("connected=1 mapping=grant"), std::string::npos) << ev;
    EXPECT_EQ(a.line(), "ok");
    EXPECT_EQ(b.line().rfind("event device name=d0 ", 0), 0u);
    on_loop([&] { EXPECT_EQ(channel->client_count(), 2u); });
}

TEST_F(ControlServerTest, ClientThatLeavesIsForgotten) {
    {
        Client c(path);
        c.send("ping\n");
        EXPECT_EQ(c.line(), "ok");
    }
    Client d(path);
    d.send("ping\n");
    EXPECT_EQ(d.line(), "ok");
    on_loop([&] { EXPECT_EQ(channel->client_count(), 1u); });
}

TEST_F(ControlServerTest, DestructionUnlinksTheSocket) {
    on_loop([&] { channel.reset(); });
    struct stat st{};
    EXPECT_NE(::stat(path.c_str(), &st), 0);
}

TEST(ControlServerCreate, BadPathsAreRefused) {
    auto loop = event::EventLoop::create();
    ASSERT_TRUE(loop.has_value());
    RecordingHandler h;
    EXPECT_FALSE(Server::create(**loop, h, "").has_value());
    EXPECT_FALSE(Server::create(**loop, h, "/tmp/" + std::string(200, 'x')).has_value());
    EXPECT_FALSE(Server::create(**loop, h, "/nonexistent-dir/control").has_value());
}

}  // namespace
}  // namespace xenvhost::control
