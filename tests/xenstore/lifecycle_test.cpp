// Life cycle: teardown 5→6, driver-domain removal, guest death through
// @releaseDomain, worker supervision, daemon restart and adoption, options.

#include "tests/xenstore/fixture.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

namespace xenvhost::xstest {
namespace {

using namespace std::chrono_literals;

bool exists(const std::string& path) { return std::filesystem::exists(std::filesystem::symlink_status(path)); }

TEST_F(XenstoreLevel, TeardownAnswersClosingWithClosed) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    std::string a = image("a.img"), b = image("b.img");
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, a)));
    XS_ASSERT_OK(env->write_tree(disk(5, kXvdb, b)));
    std::string da = be("virtio_disk", 5, kXvda), db = be("virtio_disk", 5, kXvdb);
    ASSERT_TRUE(wait_state(da, "2"));
    ASSERT_TRUE(wait_state(db, "2"));
    pid_t worker = worker_pid(da);

    auto t0 = Clock::now();
    XS_ASSERT_OK(env->close_backend(da));
    ASSERT_TRUE(wait_state(da, "6"));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    std::printf("teardown: state 5 -> 6 in %lld ms\n", static_cast<long long>(ms));
    EXPECT_LT(ms, 1000) << "libxl waits at most 10 s, and an operator notices much less";
    EXPECT_TRUE(XenstoreEnv::wait_file(socket("virtio_disk", 5, kXvda), false, kWaitMs)) << "socket left behind";
    // dom0 backend: libxl removes the directory itself, so it is still there.
    EXPECT_TRUE(env->read(da + "/frontend").has_value());
    EXPECT_EQ(env->read(db + "/state"), "2") << "the other disk is untouched";
    EXPECT_TRUE(pid_alive(worker)) << "the worker still serves the other disk";

    // libxl now removes the device directories; the last one retires the worker.
    XS_ASSERT_OK(env->xs().remove(da));
    XS_ASSERT_OK(env->close_backend(db));
    ASSERT_TRUE(wait_state(db, "6"));
    XS_ASSERT_OK(env->xs().remove(db));
    EXPECT_TRUE(XenstoreEnv::wait_file(env->run_dir() + "/dom5", false, kWaitMs)) << "run dir of dom5 left behind";
    for (int i = 0; i < 200 && pid_alive(worker); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(pid_alive(worker)) << "idle worker not stopped";
    EXPECT_FALSE(env->read(da).has_value()) << "the daemon recreated a removed directory";
}

TEST_F(XenstoreLevel, RewrittenDirectoryIsServedAgain) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    std::string a = image("a.img");
    start_daemon();
    auto tree = disk(5, kXvda, a);
    XS_ASSERT_OK(env->write_tree(tree));
    std::string dir = be("virtio_disk", 5, kXvda);
    ASSERT_TRUE(wait_state(dir, "2"));
    pid_t worker = worker_pid(dir);
    // libxl rm's and rewrites the directory (state 1, our keys gone) in one transaction.
    XS_ASSERT_OK(env->write_tree(tree));
    ASSERT_TRUE(env->wait_until(
        dir, [&] { return env->read(dir + "/state") == "2" && env->read(dir + "/vhost-user-socket").has_value(); },
        kWaitMs))
        << "state " << env->read(dir + "/state").value_or("-");
    EXPECT_EQ(worker_pid(dir), worker);
    expect_io(socket("virtio_disk", 5, kXvda), a, 24);
}

TEST_F(XenstoreLevel, DriverDomainRemovesTheDeviceDirectory) {
    // The daemon finds its own domid in the relative "domid" node.
    XS_ASSERT_OK(env->xs().write("/local/domain/0/domid", "3"));
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    std::string a = image("a.img");
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, a, "w", "1", 3)));
    std::string dir = be("virtio_disk", 5, kXvda, 3);
    ASSERT_TRUE(wait_state(dir, "2"));
    std::string text;
    for (auto& p : env->xs().get_permissions(dir + "/vhost-user-socket").value_or(std::vector<xs_permissions>{}))
        text += xen::format_permission(p) + " ";
    EXPECT_EQ(text, "n3 r5 ");
    XS_ASSERT_OK(env->close_backend(dir));
    // In a driver domain the backend removes its own directory after writing 6.
    EXPECT_TRUE(env->wait_until(dir, [&] { return !env->read(dir).has_value(); }, kWaitMs))
        << "device directory not removed; state " << env->read(dir + "/state").value_or("-");
    EXPECT_TRUE(XenstoreEnv::wait_file(socket("virtio_disk", 5, kXvda), false, kWaitMs));
}

TEST_F(XenstoreLevel, NeverServedDeviceIsClosedToo) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, env->dir() + "/missing.img")));
    std::string dir = be("virtio_disk", 5, kXvda);
    ASSERT_TRUE(wait_error(dir));
    XS_ASSERT_OK(env->close_backend(dir));
    EXPECT_TRUE(wait_state(dir, "6"));
}

TEST_F(XenstoreLevel, GuestDeathStopsItsWorkerAndRemovesItsSockets) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    XS_ASSERT_OK(env->create_domain(6, "guest6"));
    std::string a = image("a.img"), b = image("b.img");
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, a)));
    XS_ASSERT_OK(env->write_tree(disk(6, kXvda, b)));
    ASSERT_TRUE(wait_state(be("virtio_disk", 5, kXvda), "2"));
    ASSERT_TRUE(wait_state(be("virtio_disk", 6, kXvda), "2"));
    pid_t w5 = worker_pid(be("virtio_disk", 5, kXvda));
    pid_t w6 = worker_pid(be("virtio_disk", 6, kXvda));

    XS_ASSERT_OK(env->kill_domain(5));  // no teardown by libxl: the guest simply died
    for (int i = 0; i < 500 && pid_alive(w5); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(pid_alive(w5)) << "worker of the dead guest still runs";
    EXPECT_TRUE(XenstoreEnv::wait_file(env->run_dir() + "/dom5", false, kWaitMs)) << "sockets of dom5 left behind";
    EXPECT_TRUE(pid_alive(w6));
    EXPECT_TRUE(exists(socket("virtio_disk", 6, kXvda)));
    expect_io(socket("virtio_disk", 6, kXvda), b, 40);
}

TEST_F(XenstoreLevel, KilledWorkerIsRestartedOnTheSameSocket) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    std::string a = image("a.img"), b = image("b.img");
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, a)));
    XS_ASSERT_OK(env->write_tree(disk(5, kXvdb, b)));
    std::string da = be("virtio_disk", 5, kXvda), db = be("virtio_disk", 5, kXvdb);
    ASSERT_TRUE(wait_state(da, "2"));
    ASSERT_TRUE(wait_state(db, "2"));
    pid_t old = worker_pid(da);
    ASSERT_EQ(::kill(old, SIGKILL), 0);
    ASSERT_TRUE(env->wait_until(
        da, [&] { return env->read(da + "/xenvhost-restarts") == "1" && worker_pid(da) != old; }, kWaitMs))
        << "restarts " << env->read(da + "/xenvhost-restarts").value_or("-");
    ASSERT_TRUE(env->wait_until(db, [&] { return env->read(db + "/xenvhost-restarts") == "1"; }, kWaitMs));
    pid_t fresh = worker_pid(da);
    EXPECT_TRUE(pid_alive(fresh));
    EXPECT_EQ(worker_pid(db), fresh);
    EXPECT_EQ(env->read(da + "/state"), "2");
    EXPECT_FALSE(env->read(da + "/xenvhost-error").has_value());
    expect_io(socket("virtio_disk", 5, kXvda), a, 72);
    expect_io(socket("virtio_disk", 5, kXvdb), b, 72);
}

TEST_F(XenstoreLevel, WorkerThatKeepsDyingIsGivenUp) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    std::string a = image("a.img");
    start_daemon({"--max-restarts", "2", "--restart-backoff", "10", "--restart-window", "60"});
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, a)));
    std::string dir = be("virtio_disk", 5, kXvda);
    ASSERT_TRUE(wait_state(dir, "2"));
    for (int round = 0; round < 3; ++round) {
        pid_t pid = worker_pid(dir);
        ASSERT_TRUE(pid_alive(pid)) << "round " << round;
        ::kill(pid, SIGKILL);
        if (round < 2) {
            ASSERT_TRUE(env->wait_until(
                dir, [&] { return worker_pid(dir) != pid && pid_alive(worker_pid(dir)); }, kWaitMs))
                << "round " << round;
        }
    }
    ASSERT_TRUE(wait_error(dir));
    auto reason = env->read(dir + "/xenvhost-error").value_or("");
    EXPECT_NE(reason.find("gave up"), std::string::npos) << reason;
    EXPECT_EQ(env->read(dir + "/xenvhost-restarts"), "2");
    EXPECT_TRUE(daemon->process().alive());
}

TEST_F(XenstoreLevel, RestartedDaemonAdoptsRunningGuests) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    XS_ASSERT_OK(env->create_domain(6, "guest6"));
    std::string a = image("a.img"), b = image("b.img");
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, a)));
    XS_ASSERT_OK(env->write_tree(virtio(6, 0, "virtio,device2", b)));
    std::string da = be("virtio_disk", 5, kXvda), dv = be("virtio", 6, 0);
    ASSERT_TRUE(wait_state(da, "2"));
    ASSERT_TRUE(wait_state(dv, "2"));
    pid_t w5 = worker_pid(da);

    // SIGTERM: workers stopped, sockets removed, exit 0; xenstore left as it is.
    int status = daemon->process().stop(SIGTERM, 15000);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    old_logs.push_back(daemon->log());
    daemon.reset();
    EXPECT_FALSE(pid_alive(w5));
    EXPECT_FALSE(exists(env->run_dir() + "/dom5")) << "sockets left after SIGTERM";
    EXPECT_EQ(env->read(da + "/state"), "2");

    start_daemon();
    ASSERT_TRUE(env->wait_until(da, [&] { return pid_alive(worker_pid(da)) && worker_pid(da) != w5; }, kWaitMs));
    ASSERT_TRUE(XenstoreEnv::wait_file(socket("virtio_disk", 5, kXvda), true, kWaitMs));
    ASSERT_TRUE(XenstoreEnv::wait_file(socket("virtio", 6, 0), true, kWaitMs));
    EXPECT_EQ(env->read(da + "/state"), "2");
    expect_io(socket("virtio_disk", 5, kXvda), a, 88);
    expect_io(socket("virtio", 6, 0), b, 88);

    // A daemon killed outright leaves its workers behind; the next one adopts
    // them (xenstored_loss_test.cpp checks that a connected front-end keeps going).
    pid_t orphan = worker_pid(da), orphan6 = worker_pid(dv);
    stop_daemon(SIGKILL);
    EXPECT_TRUE(pid_alive(orphan));
    start_daemon();
    ASSERT_TRUE(env->wait_until(da, [&] { return daemon->log().find("adopted worker pid") != std::string::npos; },
                                kWaitMs));
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(pid_alive(orphan)) << "the worker of the killed daemon was replaced";
    EXPECT_EQ(worker_pid(da), orphan);
    EXPECT_EQ(worker_pid(dv), orphan6);
    expect_io(socket("virtio_disk", 5, kXvda), a, 96);
    expect_io(socket("virtio", 6, 0), b, 96);
}

TEST_F(XenstoreLevel, BadOptionsGiveOneLineAndExitOne) {
    struct Case {
        std::vector<std::string> args;
        const char* expect;
    };
    std::string cfg = env->dir() + "/bad.conf";
    std::ofstream(cfg) << "run-dir = " << env->run_dir() << "\nno-such-key = 1\n";
    std::string good_cfg = env->dir() + "/good.conf";
    std::ofstream(good_cfg) << "log-level = nonsense\n";
    std::vector<Case> cases = {
        {{"--bogus"}, "bogus"},
        {{"--run-dir", "relative/dir"}, "absolute"},
        {{"--worker", "/nonexistent/worker"}, "not executable"},
        {{"--log-level", "loud"}, "log-level"},
        {{"--config", env->dir() + "/missing.conf"}, "missing.conf"},
        {{"--config", cfg}, "no-such-key"},
        {{"--config", good_cfg}, "nonsense"},
        {{"--max-restarts", "many"}, "max-restarts"},
    };
    for (auto& c : cases) {
        std::vector<std::string> argv = {build_bin("xenvhostd")};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        std::string log = env->dir() + "/opts.log";
        std::filesystem::remove(log);
        auto p = Process::spawn(argv, log);
        ASSERT_TRUE(p.has_value());
        auto st = (*p)->wait_exit(5000);
        ASSERT_TRUE(st.has_value()) << c.args[0] << ": still running";
        EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 1) << c.args[0];
        std::string out = (*p)->log();
        EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
        EXPECT_NE(out.find(c.expect), std::string::npos) << out;
    }
}

}  // namespace
}  // namespace xenvhost::xstest
