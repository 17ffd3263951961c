// A device model goes with its guest's devices: closed by the toolstack
// (state 5), directory removed, guest released, daemon stopped. Each time the
// real xenvhost-dm (under the Xen double) must exit and its ioreq server and
// PCI claims must be gone. Losing xenstored leaves it running, as it leaves
// the workers.

#include "tests/xenstore/model_fixture.hpp"

#include <signal.h>
#include <sys/wait.h>

namespace xenvhost::xstest {
namespace {

namespace xdl = xendouble;
constexpr int kExitXenstoredLost = 3;  // xenvhostd(8), EXIT STATUS

long long ms_since(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

class ModelTeardown : public DeviceModelLevel {
protected:
    // An HVM guest with one disk at state 2, served by its device model.
    void serve_one_disk() {
        ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double());
        XS_ASSERT_OK(env->write_tree(x86_disk(kXvda, image("a.img"))));
        dir = be("virtio_disk", kGuest, kXvda);
        ASSERT_TRUE(wait_state(dir, "2")) << env->read(dir + "/xenvhost-error").value_or("no error key");
        dm = model_pid(dir);
        worker = worker_pid(dir);
        ASSERT_TRUE(pid_alive(dm) && process_name(dm) == "xenvhost-dm") << "dm pid " << dm;
        ASSERT_TRUE(xd->server().exists);
    }
    // The device model exits (and is reaped) and leaves no server, no claim.
    void expect_model_gone(const char* what, Clock::time_point t0) {
        bool gone = wait_for([&] { return process_gone(dm); }, kWaitMs);
        EXPECT_TRUE(gone) << what << ": device model pid " << dm << " still there ("
                          << (pid_alive(dm) ? "running" : "zombie") << ")";
        if (gone) std::printf("%s: device model gone in %lld ms\n", what, ms_since(t0));
        // Without the device model gone there is nothing to wait for.
        EXPECT_TRUE(xd->wait_server([](const auto& s) { return !s.exists; }, gone ? kWaitMs : 0))
            << what << ": server left";
        auto st = xd->server();
        EXPECT_TRUE(st.pcidevs.empty() && st.mmio.empty()) << what << ": claims left: " << st.describe();
        EXPECT_EQ(st.counter(xdl::kServerDestroys), 1u) << st.describe();
    }

    std::string dir;
    pid_t dm = -1, worker = -1;
};

TEST_F(ModelTeardown, ClosingTheDeviceStopsItsModel) {
    ASSERT_NO_FATAL_FAILURE(serve_one_disk());
    auto t0 = Clock::now();
    XS_ASSERT_OK(env->close_backend(dir));
    EXPECT_TRUE(wait_state(dir, "6"));
    std::printf("HVM disk: state 5 -> 6 in %lld ms\n", ms_since(t0));
    expect_model_gone("state 5", t0);
    EXPECT_NE(daemon->log().find("device model pid " + std::to_string(dm) + " exited with status 0"),
              std::string::npos)
        << "the device model did not exit cleanly on SIGTERM";
}

TEST_F(ModelTeardown, RemovingTheDirectoryStopsItsModel) {
    ASSERT_NO_FATAL_FAILURE(serve_one_disk());
    auto t0 = Clock::now();
    // libxl's forced removal: the directory goes without a state 5 first.
    XS_ASSERT_OK(env->xs().remove(dir));
    expect_model_gone("directory removed", t0);
    EXPECT_TRUE(XenstoreEnv::wait_file(socket("virtio_disk", kGuest, kXvda), false, kWaitMs));
}

TEST_F(ModelTeardown, ReleasedGuestTakesItsModelAlong) {
    ASSERT_NO_FATAL_FAILURE(serve_one_disk());
    auto t0 = Clock::now();
    XS_ASSERT_OK(env->kill_domain(kGuest));
    EXPECT_TRUE(wait_for([&] { return !pid_alive(worker); }, kWaitMs)) << "worker of the dead guest still runs";
    expect_model_gone("guest released", t0);
}

TEST_F(ModelTeardown, DaemonSigtermStopsModelAndWorkerAndExitsZero) {
    ASSERT_NO_FATAL_FAILURE(serve_one_disk());
    auto t0 = Clock::now();
    int status = daemon->process().stop(SIGTERM, 15000);
    auto ms = ms_since(t0);
    std::printf("daemon SIGTERM with an HVM guest: exited in %lld ms\n", ms);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    EXPECT_LT(ms, 10000) << "workers get 3 s and device models 3 s, concurrently";
    old_logs.push_back(daemon->log());
    daemon.reset();
    EXPECT_FALSE(pid_alive(worker)) << "worker left";
    EXPECT_FALSE(pid_alive(dm)) << "device model left";
    auto st = xd->server();
    EXPECT_FALSE(st.exists) << st.describe();
    EXPECT_TRUE(st.pcidevs.empty()) << st.describe();
    EXPECT_EQ(env->read(dir + "/state"), "2") << "xenstore is left as it is";
}

TEST_F(ModelTeardown, LosingXenstoredLeavesTheModelRunning) {
    ASSERT_NO_FATAL_FAILURE(serve_one_disk());
    env->kill_xenstored();
    auto status = daemon->process().wait_exit(kWaitMs);
    ASSERT_TRUE(status.has_value()) << "daemon still running without xenstored";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == kExitXenstoredLost) << "status " << *status;
    old_logs.push_back(daemon->log());
    daemon.reset();
    EXPECT_TRUE(pid_alive(dm)) << "the guest's device model was stopped";
    EXPECT_TRUE(pid_alive(worker)) << "the guest's worker was stopped";
    auto st = xd->server();
    EXPECT_TRUE(st.exists && st.enabled) << st.describe();
    EXPECT_EQ(st.pcidevs, std::vector<uint32_t>{xdl::pci_sbdf(0, 0, 16, 0)}) << st.describe();
    // Ours to stop now (no daemon left to do it).
    for (pid_t p : {dm, worker})
        if (pid_alive(p)) ::kill(p, SIGKILL);
    EXPECT_TRUE(wait_for([&] { return !pid_alive(dm) && !pid_alive(worker); }, kWaitMs));
}

}  // namespace
}  // namespace xenvhost::xstest
