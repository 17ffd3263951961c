// Generic virtio devices served by a back-end the operator runs
// (--external-backend): no worker is started for them, the guest's device
// model (the real xenvhost-dm under the Xen double) connects to the
// configured socket with the type's virtio id, state 2 follows its ready
// report, and no teardown (closing, the guest's death, the daemon's exit)
// touches the back-end.

#include "tests/xenstore/external_fixture.hpp"

#include <signal.h>
#include <sys/wait.h>

namespace xenvhost::xstest {
namespace {

namespace xdl = xendouble;
constexpr const char* kNoTransportPv = "none: a PV guest has no MMIO emulation, so no virtio transport";

// Reached state 2, with nothing of a worker about it.
void expect_external_keys(XenstoreEnv& env, const std::string& dir, const std::string& socket) {
    EXPECT_EQ(env.read(dir + "/vhost-user-socket"), socket);
    EXPECT_EQ(env.read(dir + "/xenvhost-backend"), "external " + socket);
    for (const char* key : {"xenvhost-worker-pid", "xenvhost-restarts", "xenvhost-connected", "xenvhost-mapping",
                            "xenvhost-error"})
        EXPECT_FALSE(env.read(dir + "/" + key).has_value()) << key << " = " << env.read(dir + "/" + key).value_or("");
}

TEST_F(ExternalBackendLevel, HvmGuestsDeviceGoesToTheExternalBackendThroughTheModel) {
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double(external_args("virtio,device22")));
    const std::string sock = external_socket(kGuest), img = image("ext.img");
    ASSERT_NO_FATAL_FAILURE(start_backend(sock, img, xd->daemon_env()));
    const pid_t backend_pid = backend->pid();
    const std::string dir = be("virtio", kGuest, 0);
    XS_ASSERT_OK(env->write_tree(x86_virtio(0, "virtio,device22")));
    ASSERT_TRUE(wait_state(dir, "2")) << "state " << env->read(dir + "/state").value_or("-") << ", error "
                                      << env->read(dir + "/xenvhost-error").value_or("-");

    expect_external_keys(*env, dir, sock);
    EXPECT_EQ(env->read(dir + "/xenvhost-transport"), "pci 0000:00:10.0 intx A");
    const pid_t dm = model_pid(dir);
    ASSERT_TRUE(pid_alive(dm)) << "xenvhost-dm-pid " << dm;
    // The device model, and nothing else: no worker for this guest.
    EXPECT_EQ(daemon_children(), std::vector<pid_t>{dm});
    EXPECT_EQ(process_name(dm), "xenvhost-dm");
    // virtio,device22 is hexadecimal: I2C, virtio device 34.
    EXPECT_EQ(option_values(process_args(dm), "--device"),
              std::vector<std::string>{fmt::format("name=virtio-0,socket={},virtio-id=34,transport=pci,slot=16", sock)});
    auto st = xd->server();
    EXPECT_TRUE(st.exists && st.enabled) << st.describe();
    EXPECT_EQ(st.pcidevs, std::vector<uint32_t>{xdl::pci_sbdf(0, 0, 16, 0)}) << st.describe();
    EXPECT_NE(backend->log().find("front-end connected"), std::string::npos)
        << "the device model never connected to the external back-end";

    // libxl's teardown: the device model goes, the back-end stays and serves on.
    XS_ASSERT_OK(env->close_backend(dir));
    ASSERT_TRUE(wait_state(dir, "6"));
    EXPECT_TRUE(wait_for([&] { return process_gone(dm); }, kWaitMs)) << "device model not stopped";
    EXPECT_FALSE(env->read(dir + "/xenvhost-connected").has_value());
    EXPECT_TRUE(daemon_children().empty());
    expect_backend_untouched(backend_pid, sock, img, 24);
}

TEST_F(ExternalBackendLevel, GuestDeathAndDaemonExitLeaveTheBackendRunning) {
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double(external_args("virtio,device22")));
    const std::string sock = external_socket(kGuest), img = image("ext.img");
    ASSERT_NO_FATAL_FAILURE(start_backend(sock, img, xd->daemon_env()));
    const pid_t backend_pid = backend->pid();
    const std::string dir = be("virtio", kGuest, 0);
    XS_ASSERT_OK(env->write_tree(x86_virtio(0, "virtio,device22")));
    ASSERT_TRUE(wait_state(dir, "2")) << env->read(dir + "/xenvhost-error").value_or("no error key");
    const pid_t dm = model_pid(dir);
    ASSERT_TRUE(pid_alive(dm));

    XS_ASSERT_OK(env->kill_domain(kGuest));
    EXPECT_TRUE(wait_for([&] { return process_gone(dm); }, kWaitMs)) << "device model of the dead guest still runs";
    EXPECT_TRUE(xd->wait_server([](const auto& s) { return !s.exists; }, kWaitMs)) << xd->server().describe();
    EXPECT_NE(daemon->log().find("released with its guest"), std::string::npos);
    ASSERT_NO_FATAL_FAILURE(expect_backend_untouched(backend_pid, sock, img, 8));

    const int status = daemon->process().stop(SIGTERM, 15000);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    old_logs.push_back(daemon->log());
    daemon.reset();
    expect_backend_untouched(backend_pid, sock, img, 16);
}

TEST_F(ExternalBackendLevel, PvGuestsBlockDeviceGoesToTheOperatorsBackendInsteadOfAWorker) {
    ASSERT_NO_FATAL_FAILURE(guest("pv"));
    const std::string started = env->dir() + "/dm-started";
    // A device model that leaves a trace if it is ever run.
    auto args = external_args("virtio,device2");
    args.insert(args.end(), {"--device-model", script("dm.sh", "touch " + started + "\nexit 1")});
    start_daemon(args);
    const std::string sock = external_socket(kGuest), img = image("blk.img");
    ASSERT_NO_FATAL_FAILURE(start_backend(sock, img));
    const pid_t backend_pid = backend->pid();
    const std::string dir = be("virtio", kGuest, 0);
    // No params: the image is the back-end's business.
    XS_ASSERT_OK(env->write_tree(x86_virtio(0, "virtio,device2")));
    ASSERT_TRUE(wait_state(dir, "2")) << env->read(dir + "/xenvhost-error").value_or("no error key");
    expect_external_keys(*env, dir, sock);
    EXPECT_EQ(env->read(dir + "/xenvhost-transport"), kNoTransportPv);
    EXPECT_FALSE(env->read(dir + "/xenvhost-dm-pid").has_value());
    EXPECT_FALSE(XenstoreEnv::wait_file(started, true, 1000)) << "a device model was started for a PV guest";
    EXPECT_TRUE(daemon_children().empty()) << "a worker (or anything) was started";
    EXPECT_FALSE(XenstoreEnv::wait_file(socket("virtio", kGuest, 0), true, 0)) << "a worker socket exists";
    // What a front-end in dom0 would do with the published socket.
    expect_io(*env->read(dir + "/vhost-user-socket"), img, 40);

    XS_ASSERT_OK(env->close_backend(dir));
    ASSERT_TRUE(wait_state(dir, "6"));
    expect_backend_untouched(backend_pid, sock, img, 48);
}

}  // namespace
}  // namespace xenvhost::xstest
