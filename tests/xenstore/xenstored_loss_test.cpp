// xenstored going away under the daemon: the daemon exits with status 3 and
// one log line, its workers keep serving the connected front-ends, and the
// next daemon adopts them (same pid) or, when their devices are no longer
// declared, retires them. Also the daemon killed while xenstored keeps
// running: the next one adopts the worker without touching the connection.

#include "frontend/blk_session.hpp"
#include "tests/xenstore/fixture.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <thread>

namespace xenvhost::xstest {
namespace {

using namespace std::chrono_literals;
using Ms = std::chrono::duration<double, std::milli>;

constexpr int kExitXenstoredLost = 3;  // xenvhostd(8), EXIT STATUS

std::vector<uint8_t> pattern(uint64_t seq) {
    std::vector<uint8_t> data(4096);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + seq * 7 + 1);
    return data;
}

// Writes and reads back one block after another through a connected
// front-end on a thread of its own, and records the longest gap between
// two completed round trips.
class IoLoop {
public:
    IoLoop(frontend::BlkSession& session, uint64_t first_sector) : session_(session), first_(first_sector) {
        thread_ = std::thread([this] { run(); });
    }
    ~IoLoop() { stop(); }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    uint64_t rounds() const { return rounds_; }
    double max_gap_ms() const { return max_gap_us_ / 1000.0; }
    std::string error() const {
        std::lock_guard lock(mutex_);
        return error_;
    }
    // The last round's sector and data, to compare with the image file.
    uint64_t sector_of(uint64_t seq) const { return first_ + (seq % 8) * 8; }

private:
    void run() {
        auto last = Clock::now();
        for (uint64_t seq = 0; !stop_; ++seq) {
            auto data = pattern(seq);
            auto w = session_.blk(0).write(sector_of(seq), data);
            std::string err;
            if (!w) err = "write: " + w.error().message;
            if (err.empty()) {
                auto r = session_.blk(0).read(sector_of(seq), static_cast<uint32_t>(data.size()));
                if (!r) err = "read: " + r.error().message;
                else if (*r != data) err = fmt::format("round {}: read-back differs", seq);
            }
            if (!err.empty()) {
                std::lock_guard lock(mutex_);
                error_ = err;
                return;
            }
            auto now = Clock::now();
            auto gap = std::chrono::duration_cast<std::chrono::microseconds>(now - last).count();
            if (gap > max_gap_us_) max_gap_us_ = gap;
            last = now;
            rounds_ = seq + 1;
            std::this_thread::sleep_for(2ms);  // two cores, shared with xenstored, the daemon and the worker
        }
    }

    frontend::BlkSession& session_;
    uint64_t first_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> rounds_{0};
    std::atomic<int64_t> max_gap_us_{0};
    mutable std::mutex mutex_;
    std::string error_;
};

std::vector<uint8_t> file_block(const std::string& path, uint64_t sector) {
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(sector * 512));
    std::vector<uint8_t> out(4096);
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
    return out;
}

bool wait_rounds(const IoLoop& io, uint64_t target, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (io.rounds() < target && io.error().empty()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return io.rounds() >= target;
}

bool wait_gone(pid_t pid, int timeout_ms) {
    for (int waited = 0; pid_alive(pid); waited += 10) {
        if (waited >= timeout_ms) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

class XenstoredLoss : public XenstoreLevel {
protected:
    void TearDown() override {
        XenstoreLevel::TearDown();
        // A worker no daemon stopped (a failed check) must not outlive its test.
        for (pid_t pid : leftover)
            if (pid_alive(pid)) ::kill(pid, SIGKILL);
    }

    std::unique_ptr<frontend::BlkSession> connect(const std::string& sock) {
        frontend::SessionOptions opts;
        opts.memory_size = 16 << 20;
        auto s = frontend::BlkSession::connect(sock, opts);
        EXPECT_TRUE(s.has_value()) << "connect " << sock << ": " << s.error().message;
        if (!s) return nullptr;
        auto started = (*s)->start();
        EXPECT_TRUE(started.has_value()) << started.error().message;
        if (!started) return nullptr;
        return std::move(*s);
    }

    // Serves dom5's disk, connects a front-end and starts I/O on it; then
    // kills xenstored and checks the daemon's exit and the worker's survival.
    void serve_then_lose_xenstored() {
        XS_ASSERT_OK(env->create_domain(5, "guest5"));
        img = image("a.img");
        start_daemon();
        XS_ASSERT_OK(env->write_tree(disk(5, kXvda, img)));
        dir = be("virtio_disk", 5, kXvda);
        sock = socket("virtio_disk", 5, kXvda);
        ASSERT_TRUE(wait_state(dir, "2"));
        worker = worker_pid(dir);
        ASSERT_TRUE(pid_alive(worker));
        leftover.push_back(worker);
        session = connect(sock);
        ASSERT_TRUE(session);
        ASSERT_TRUE(env->wait_value(dir + "/xenvhost-connected", "1", kWaitMs));
        io = std::make_unique<IoLoop>(*session, 1024);
        ASSERT_TRUE(wait_rounds(*io, 20, kWaitMs)) << io->error();

        auto t0 = Clock::now();
        env->kill_xenstored();
        auto status = daemon->process().wait_exit(10000);
        double exit_ms = Ms(Clock::now() - t0).count();
        ASSERT_TRUE(status.has_value()) << "xenvhostd still runs 10 s after xenstored died";
        std::printf("xenstored killed: xenvhostd exited %.1f ms later\n", exit_ms);
        EXPECT_LT(exit_ms, 3000) << "noticed too late";
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == kExitXenstoredLost) << "status " << *status;
        std::string log = daemon->log();
        size_t at = log.find("lost the connection to xenstored");
        ASSERT_NE(at, std::string::npos) << log;
        std::string line = log.substr(at, log.find('\n', at) - at);
        EXPECT_NE(line.find("leaving 1 worker(s) running"), std::string::npos) << line;
        EXPECT_NE(line.find(fmt::format("pid {} (dom5)", worker)), std::string::npos) << line;
        EXPECT_NE(line.find(fmt::format("status {}", kExitXenstoredLost)), std::string::npos) << line;
        EXPECT_EQ(log.find("stopping worker"), std::string::npos) << "a worker was stopped:\n" << log;
        old_logs.push_back(log);
        daemon.reset();

        // The worker outlives its daemon and goes on serving the same connection.
        uint64_t at_exit = io->rounds();
        ASSERT_TRUE(wait_rounds(*io, at_exit + 50, kWaitMs)) << "I/O stalled after the daemon exited: " << io->error();
        EXPECT_TRUE(pid_alive(worker));
        EXPECT_TRUE(io->error().empty()) << io->error();
    }

    std::string img, dir, sock;
    pid_t worker = -1;
    std::unique_ptr<frontend::BlkSession> session;
    std::unique_ptr<IoLoop> io;
    std::vector<pid_t> leftover;
};

TEST_F(XenstoredLoss, WorkersKeepServingAndAreRetiredWhenXenstoredComesBackEmpty) {
    serve_then_lose_xenstored();
    if (HasFatalFailure()) return;
    io->stop();
    std::printf("front-end I/O across xenstored's death: %llu round trips, longest gap %.1f ms\n",
                static_cast<unsigned long long>(io->rounds()), io->max_gap_ms());
    EXPECT_LT(io->max_gap_ms(), 1000) << "the front-end saw its I/O stall";
    uint64_t last = io->rounds() - 1;
    EXPECT_EQ(file_block(img, io->sector_of(last)), pattern(last)) << "the image does not hold the last write";
    // A new connection to the same socket, with no daemon and no xenstored.
    session.reset();
    expect_io(sock, img, 96);
    EXPECT_TRUE(pid_alive(worker));

    // xenstored back, empty: the device is no longer declared anywhere. The
    // new daemon adopts the worker, takes its device out, and retires it.
    XS_ASSERT_OK(env->restart_xenstored());
    start_daemon();
    auto t0 = Clock::now();
    EXPECT_TRUE(wait_gone(worker, 10000)) << "the worker of an undeclared device still runs";
    std::printf("xenstored restarted empty: leftover worker retired %.1f ms after the daemon started\n",
                Ms(Clock::now() - t0).count());
    EXPECT_TRUE(XenstoreEnv::wait_file(env->run_dir() + "/dom5", false, kWaitMs)) << "run dir of dom5 left behind";
    EXPECT_TRUE(daemon->process().alive());
    // dom5 is not introduced to the new xenstored either, so the guest
    // counts as gone (@releaseDomain fires when the watch is set).
    std::string log = daemon->log();
    EXPECT_NE(log.find(fmt::format("worker pid {} was left running", worker)), std::string::npos) << log;
    EXPECT_NE(log.find(fmt::format("dom5: stopping worker pid {}", worker)), std::string::npos) << log;
    // Nothing was written for a device xenstore does not hold.
    EXPECT_FALSE(env->read(dir).has_value());

    // And the daemon serves new guests as usual.
    XS_ASSERT_OK(env->create_domain(6, "guest6"));
    std::string b = image("b.img");
    XS_ASSERT_OK(env->write_tree(disk(6, kXvda, b)));
    ASSERT_TRUE(wait_state(be("virtio_disk", 6, kXvda), "2"));
    expect_io(socket("virtio_disk", 6, kXvda), b, 8);
}

TEST_F(XenstoredLoss, GuestDeclaredAgainAfterXenstoredRestartKeepsItsWorker) {
    serve_then_lose_xenstored();
    if (HasFatalFailure()) return;

    // xenstored back and the guest's entries written again as libxl writes
    // them (state 1); the connected front-end keeps doing I/O all along.
    XS_ASSERT_OK(env->restart_xenstored());
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, img)));
    auto t0 = Clock::now();
    start_daemon();
    ASSERT_TRUE(wait_state(dir, "2"));
    std::printf("guest declared again: state 2 %.1f ms after the daemon started\n", Ms(Clock::now() - t0).count());
    EXPECT_EQ(worker_pid(dir), worker) << "the worker was replaced instead of adopted";
    EXPECT_EQ(env->read(dir + "/vhost-user-socket"), sock);
    EXPECT_TRUE(env->wait_value(dir + "/xenvhost-connected", "1", kWaitMs))
        << "the adopted worker's connected front-end is not published";
    EXPECT_FALSE(env->read(dir + "/xenvhost-error").has_value());
    uint64_t now = io->rounds();
    ASSERT_TRUE(wait_rounds(*io, now + 50, kWaitMs)) << io->error();
    io->stop();
    std::printf("front-end I/O across xenstored's death and the adoption: %llu round trips, longest gap %.1f ms\n",
                static_cast<unsigned long long>(io->rounds()), io->max_gap_ms());
    EXPECT_LT(io->max_gap_ms(), 1000);
    EXPECT_TRUE(io->error().empty()) << io->error();
    session.reset();
    EXPECT_TRUE(env->wait_value(dir + "/xenvhost-connected", "0", kWaitMs)) << "the adopted worker's events are lost";
    expect_io(sock, img, 128);
    EXPECT_EQ(daemon->log().find("stopping worker"), std::string::npos) << daemon->log();

    // A real stop (SIGTERM, as systemctl stop sends it) still stops the adopted worker.
    int status = daemon->process().stop(SIGTERM, 15000);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    old_logs.push_back(daemon->log());
    daemon.reset();
    EXPECT_TRUE(wait_gone(worker, 5000)) << "SIGTERM left the adopted worker running";
}

TEST_F(XenstoredLoss, DaemonKilledWhileXenstoredRunsIsReplacedWithoutTouchingTheWorker) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    std::string a = image("a.img");
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, a)));
    std::string d = be("virtio_disk", 5, kXvda);
    ASSERT_TRUE(wait_state(d, "2"));
    pid_t w = worker_pid(d);
    leftover.push_back(w);
    auto s = connect(socket("virtio_disk", 5, kXvda));
    ASSERT_TRUE(s);
    IoLoop loop(*s, 2048);
    ASSERT_TRUE(wait_rounds(loop, 20, kWaitMs)) << loop.error();

    stop_daemon(SIGKILL);
    EXPECT_TRUE(pid_alive(w));
    // Adoption writes the worker's pid again (the same value) with the other status keys.
    XS_ASSERT_OK(env->xs().remove(d + "/xenvhost-worker-pid"));
    auto t0 = Clock::now();
    start_daemon();
    ASSERT_TRUE(env->wait_until(d, [&] { return env->read(d + "/xenvhost-worker-pid").has_value(); }, kWaitMs));
    std::printf("daemon SIGKILLed and started again: status keys of the adopted worker written %.1f ms after the "
                "start\n",
                Ms(Clock::now() - t0).count());
    EXPECT_EQ(worker_pid(d), w) << "the worker was replaced instead of adopted";
    uint64_t now = loop.rounds();
    ASSERT_TRUE(wait_rounds(loop, now + 50, kWaitMs)) << loop.error();
    EXPECT_TRUE(pid_alive(w));
    EXPECT_EQ(env->read(d + "/state"), "2");
    std::string log = daemon->log();
    EXPECT_NE(log.find(fmt::format("adopting worker pid {}", w)), std::string::npos) << log;
    loop.stop();
    std::printf("front-end I/O across the daemon's restart: %llu round trips, longest gap %.1f ms\n",
                static_cast<unsigned long long>(loop.rounds()), loop.max_gap_ms());
    EXPECT_TRUE(loop.error().empty()) << loop.error();
    EXPECT_LT(loop.max_gap_ms(), 1000);
    s.reset();
    expect_io(socket("virtio_disk", 5, kXvda), a, 160);
    EXPECT_EQ(worker_pid(d), w);
}

TEST_F(XenstoredLoss, DeviceRemovedWhileNoDaemonRanIsTakenOutOfTheAdoptedWorker) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    std::string a = image("a.img"), b = image("b.img");
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, a)));
    XS_ASSERT_OK(env->write_tree(disk(5, kXvdb, b)));
    std::string da = be("virtio_disk", 5, kXvda), db = be("virtio_disk", 5, kXvdb);
    ASSERT_TRUE(wait_state(da, "2"));
    ASSERT_TRUE(wait_state(db, "2"));
    pid_t w = worker_pid(da);
    leftover.push_back(w);

    // The daemon dies; meanwhile the toolstack drops xvdb (its directory
    // removed, the guest still running). The next daemon adopts the worker,
    // keeps xvda and takes xvdb out of it.
    stop_daemon(SIGKILL);
    XS_ASSERT_OK(env->xs().remove(db));
    start_daemon();
    EXPECT_TRUE(XenstoreEnv::wait_file(socket("virtio_disk", 5, kXvdb), false, kWaitMs)) << "xvdb still served";
    std::string log = daemon->log();
    EXPECT_NE(log.find("serves virtio_disk-51728, which is no longer declared in xenstore; taking it out"),
              std::string::npos)
        << log;
    EXPECT_TRUE(pid_alive(w));
    EXPECT_EQ(worker_pid(da), w);
    expect_io(socket("virtio_disk", 5, kXvda), a, 200);

    // The last declared device gone too: the adopted worker is retired as usual.
    stop_daemon(SIGKILL);
    XS_ASSERT_OK(env->xs().remove(da));
    start_daemon();
    EXPECT_TRUE(wait_gone(w, 10000)) << "an adopted worker serving nothing still runs";
    log = daemon->log();
    EXPECT_NE(log.find("dom5: no device left to serve; stopping its worker"), std::string::npos) << log;
    EXPECT_TRUE(XenstoreEnv::wait_file(env->run_dir() + "/dom5", false, kWaitMs));
}

}  // namespace
}  // namespace xenvhost::xstest
