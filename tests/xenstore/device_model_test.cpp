// Device models: a PV guest's devices say they have no transport; an HVM
// guest's devices reach state 2 only once the guest's xenvhost-dm (the real
// one, under the Xen double) has them on its bus; a device model that cannot
// start or dies fails the guest's devices.

#include "tests/xenstore/model_fixture.hpp"
#include "xen/privilege.hpp"

#include <signal.h>

#include <algorithm>

namespace xenvhost::xstest {
namespace {

namespace xdl = xendouble;
constexpr const char* kNoTransportPv = "none: a PV guest has no MMIO emulation, so no virtio transport";
constexpr const char* kNoTransportUnknown = "none: the guest's type (/libxl/<domid>/type) is not readable here";

long long ms_since(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

TEST_F(DeviceModelLevel, PvGuestHasNoTransportAndNoDeviceModel) {
    ASSERT_NO_FATAL_FAILURE(guest("pv"));
    std::string started = env->dir() + "/dm-started";
    // A device model that leaves a trace if it is ever run.
    start_daemon({"--device-model", script("dm.sh", "touch " + started + "\nexit 1")});
    XS_ASSERT_OK(env->write_tree(x86_disk(kXvda, image("a.img"))));
    std::string dir = be("virtio_disk", kGuest, kXvda);
    ASSERT_TRUE(wait_state(dir, "2"));
    EXPECT_EQ(env->read(dir + "/xenvhost-transport"), kNoTransportPv);
    EXPECT_FALSE(env->read(dir + "/xenvhost-dm-pid").has_value());
    EXPECT_FALSE(env->read(dir + "/xenvhost-error").has_value());
    // Ten times the daemon's gathering delay: long enough for a device model to have been started.
    EXPECT_FALSE(XenstoreEnv::wait_file(started, true, 1000)) << "a device model was started for a PV guest";
    EXPECT_EQ(daemon_children().size(), 1u) << "the worker only";
}

TEST_F(DeviceModelLevel, GuestOfUnreadableTypeSaysSo) {
    ASSERT_NO_FATAL_FAILURE(guest(std::nullopt));
    start_daemon();
    XS_ASSERT_OK(env->write_tree(x86_disk(kXvda, image("a.img"))));
    std::string dir = be("virtio_disk", kGuest, kXvda);
    ASSERT_TRUE(wait_state(dir, "2"));
    EXPECT_EQ(env->read(dir + "/xenvhost-transport"), kNoTransportUnknown);
    EXPECT_FALSE(env->read(dir + "/xenvhost-dm-pid").has_value());
    EXPECT_TRUE(daemon_children("xenvhost-dm").empty());
}

TEST_F(DeviceModelLevel, HvmDiskReachesState2OnceTheModelHasItOnTheBus) {
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double());
    std::string dir = be("virtio_disk", kGuest, kXvda);
    auto t0 = Clock::now();
    XS_ASSERT_OK(env->write_tree(x86_disk(kXvda, image("a.img"))));
    ASSERT_TRUE(wait_state(dir, "2")) << "state " << env->read(dir + "/state").value_or("-") << ", error "
                                      << env->read(dir + "/xenvhost-error").value_or("-");
    auto ms = ms_since(t0);
    // The device model enables its server before it reports: at state 2 it must be so.
    auto st = xd->server();
    std::printf("HVM disk: directory written -> state 2 (device model ready) in %lld ms\n", ms);
    EXPECT_LT(ms, 5000) << "libxl waits at most 10 s for state 2";
    EXPECT_TRUE(st.exists && st.enabled && st.all_bound()) << st.describe();
    EXPECT_EQ(st.pcidevs, std::vector<uint32_t>{xdl::pci_sbdf(0, 0, 16, 0)}) << st.describe();
    EXPECT_EQ(st.counter(xdl::kServerCreates), 1u);

    EXPECT_EQ(env->read(dir + "/xenvhost-transport"), "pci 0000:00:10.0 intx A");
    pid_t dm = model_pid(dir);
    ASSERT_TRUE(pid_alive(dm)) << "xenvhost-dm-pid " << dm;
    EXPECT_EQ(process_name(dm), "xenvhost-dm");
    EXPECT_EQ(daemon_children("xenvhost-dm"), std::vector<pid_t>{dm});
    auto args = process_args(dm);
    EXPECT_EQ(option_values(args, "--domid"), std::vector<std::string>{"5"});
    EXPECT_EQ(option_values(args, "--vcpus"), std::vector<std::string>{"2"});
    EXPECT_EQ(option_values(args, "--ram"), std::vector<std::string>{kGuestRam});
    EXPECT_EQ(option_values(args, "--device"),
              std::vector<std::string>{fmt::format("name=virtio_disk-{},socket={},virtio-id=2,transport=pci,slot=16",
                                                   kXvda, socket("virtio_disk", kGuest, kXvda))});
    EXPECT_FALSE(env->read(dir + "/xenvhost-error").has_value());
    EXPECT_EQ(env->read(dir + "/vhost-user-socket"), socket("virtio_disk", kGuest, kXvda));
}

TEST_F(DeviceModelLevel, TwoDisksOfOneTransactionShareOneModel) {
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double());
    Tree both = x86_disk(kXvda, image("a.img"));
    for (auto& s : x86_disk(kXvdb, image("b.img")).sections) both.sections.push_back(s);
    std::string da = be("virtio_disk", kGuest, kXvda), db = be("virtio_disk", kGuest, kXvdb);
    auto t0 = Clock::now();
    XS_ASSERT_OK(env->write_tree(both));
    ASSERT_TRUE(wait_state(da, "2")) << env->read(da + "/xenvhost-error").value_or("no error key");
    ASSERT_TRUE(wait_state(db, "2")) << env->read(db + "/xenvhost-error").value_or("no error key");
    std::printf("HVM, two disks in one transaction: -> both at state 2 in %lld ms\n", ms_since(t0));
    pid_t dm = model_pid(da);
    EXPECT_EQ(model_pid(db), dm) << "one device model for the guest";
    EXPECT_EQ(daemon_children("xenvhost-dm"), std::vector<pid_t>{dm});
    EXPECT_EQ(env->read(da + "/xenvhost-transport"), "pci 0000:00:10.0 intx A");
    EXPECT_EQ(env->read(db + "/xenvhost-transport"), "pci 0000:00:11.0 intx A");
    auto devices = option_values(process_args(dm), "--device");
    ASSERT_EQ(devices.size(), 2u);
    EXPECT_NE(devices[0].find(fmt::format("name=virtio_disk-{},", kXvda)), std::string::npos) << devices[0];
    EXPECT_NE(devices[0].find("transport=pci,slot=16"), std::string::npos) << devices[0];
    EXPECT_NE(devices[1].find(fmt::format("name=virtio_disk-{},", kXvdb)), std::string::npos) << devices[1];
    EXPECT_NE(devices[1].find("transport=pci,slot=17"), std::string::npos) << devices[1];
    auto st = xd->server();
    EXPECT_EQ(st.pcidevs, (std::vector<uint32_t>{xdl::pci_sbdf(0, 0, 16, 0), xdl::pci_sbdf(0, 0, 17, 0)}))
        << st.describe();
    EXPECT_EQ(st.counter(xdl::kServerCreates), 1u) << "the device model was restarted";
}

TEST_F(DeviceModelLevel, ModelThatIsNotReadyYetHoldsState1) {
    ASSERT_NO_FATAL_FAILURE(guest("hvm"));
    // Runs, never reports ready (what a slow xenvhost-dm looks like from the daemon).
    start_daemon({"--device-model", script("dm.sh", "exec sleep 600")});
    std::string dir = be("virtio_disk", kGuest, kXvda);
    XS_ASSERT_OK(env->write_tree(x86_disk(kXvda, image("a.img"))));
    ASSERT_TRUE(wait_for([&] { return !daemon_children("sleep").empty(); }, kWaitMs)) << "device model not started";
    pid_t dm = daemon_children("sleep")[0];
    EXPECT_EQ(env->read(dir + "/state"), "1") << "state 2 before the device model was ready";
    EXPECT_TRUE(env->read(dir + "/vhost-user-socket").has_value()) << "the worker listens already";
    EXPECT_FALSE(env->read(dir + "/xenvhost-dm-pid").has_value());
    // Closing stops it: SIGTERM ends `sleep`.
    XS_ASSERT_OK(env->close_backend(dir));
    EXPECT_TRUE(wait_state(dir, "6"));
    EXPECT_TRUE(wait_for([&] { return process_gone(dm); }, kWaitMs)) << "device model not stopped and reaped";
}

// A device model that cannot start: the guest's devices get the error key
// and never reach state 2, and nothing is left running but the worker.
void expect_model_failure(XenstoreEnv& env, const std::string& dir, pid_t daemon_pid) {
    ASSERT_TRUE(env.wait_until(dir, [&] { return env.read(dir + "/xenvhost-error").has_value(); }, kWaitMs))
        << "no error key; state " << env.read(dir + "/state").value_or("-");
    std::string error = *env.read(dir + "/xenvhost-error");
    std::printf("device model failure: xenvhost-error = \"%s\"\n", error.c_str());
    EXPECT_NE(error.find("device model"), std::string::npos) << error;
    EXPECT_NE(env.read(dir + "/state"), "2");
    EXPECT_FALSE(env.read(dir + "/xenvhost-dm-pid").has_value());
    // The worker may be retired with its only device; nothing else may remain.
    EXPECT_TRUE(wait_for(
        [&] {
            auto kids = children_of(daemon_pid);
            return std::all_of(kids.begin(), kids.end(),
                               [](pid_t p) { return process_name(p) == "xenvhost-worker"; });
        },
        kWaitMs))
        << "a device model process (or its zombie) is left";
}

TEST_F(DeviceModelLevel, ModelThatExitsFailsTheGuestsDevices) {
    ASSERT_NO_FATAL_FAILURE(guest("hvm"));
    start_daemon({"--device-model", script("dm.sh", "exit 1")});
    XS_ASSERT_OK(env->write_tree(x86_disk(kXvda, image("a.img"))));
    expect_model_failure(*env, be("virtio_disk", kGuest, kXvda), daemon->pid());
}

TEST_F(DeviceModelLevel, RealModelWithoutXenFailsTheGuestsDevices) {
    // The real xenvhost-dm, no double: there is no hypervisor to create an ioreq server on.
    ASSERT_NO_FATAL_FAILURE(guest("hvm"));
    start_daemon();
    XS_ASSERT_OK(env->write_tree(x86_disk(kXvda, image("a.img"))));
    expect_model_failure(*env, be("virtio_disk", kGuest, kXvda), daemon->pid());
}

TEST_F(DeviceModelLevel, KilledModelFailsTheDevicesAndItsServerIsDestroyed) {
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double());
    Tree both = x86_disk(kXvda, image("a.img"));
    for (auto& s : x86_disk(kXvdb, image("b.img")).sections) both.sections.push_back(s);
    XS_ASSERT_OK(env->write_tree(both));
    std::string da = be("virtio_disk", kGuest, kXvda), db = be("virtio_disk", kGuest, kXvdb);
    ASSERT_TRUE(wait_state(da, "2"));
    ASSERT_TRUE(wait_state(db, "2"));
    pid_t dm = model_pid(da);
    ASSERT_TRUE(pid_alive(dm));
    ASSERT_TRUE(xd->server().exists);

    ASSERT_EQ(::kill(dm, SIGKILL), 0);
    for (const auto& dir : {da, db}) {
        ASSERT_TRUE(wait_error(dir)) << dir;
        std::string error = *env->read(dir + "/xenvhost-error");
        EXPECT_NE(error.find("device model"), std::string::npos) << error;
    }
    // A SIGKILLed device model destroys nothing: the daemon destroyed its server.
    EXPECT_TRUE(xd->wait_server([](const auto& s) { return !s.exists; }, kWaitMs)) << "server left for ever";
    auto st = xd->server();
    EXPECT_EQ(st.counter(xdl::kServerDestroys), 1u) << st.describe();
    EXPECT_TRUE(st.pcidevs.empty() && st.mmio.empty()) << st.describe();
    EXPECT_NE(daemon->log().find("destroyed ioreq server 0 left by the device model"), std::string::npos);
    EXPECT_TRUE(wait_for([&] { return process_gone(dm); }, kWaitMs)) << "not reaped";
    EXPECT_TRUE(daemon_children("xenvhost-dm").empty()) << "a device model was started again";
}

// A driver domain (domid node 3) cannot read /libxl/<domid>/type: xenvhostd
// asks Xen with a DMOP that changes nothing, and the double answers as Xen
// does for an unprivileged caller (XENDOUBLE_DM_ACCESS).
class DriverDomainModel : public DeviceModelLevel {
protected:
    static constexpr unsigned kSelf = 3;
    void start(const char* access) {
        XS_ASSERT_OK(env->xs().write("/local/domain/0/domid", std::to_string(kSelf)));
        ASSERT_NO_FATAL_FAILURE(guest(std::nullopt));
        auto g = DoubleGuest::create(env->dir() + "/xendouble", kGuest, kGuestVcpus, kGuestRamKib);
        ASSERT_TRUE(g.has_value()) << g.error().message;
        xd = std::move(*g);
        auto daemon_env = xd->daemon_env();
        daemon_env.push_back(std::string("XENDOUBLE_DM_ACCESS=") + access);
        started = env->dir() + "/dm-started";
        // A device model that leaves a trace if it is ever run.
        ASSERT_NO_FATAL_FAILURE(
            start_daemon({"--device-model", script("dm.sh", "touch " + started + "\nexit 1")}, daemon_env));
        Tree t = disk(kGuest, kXvda, image("a.img"), "w", std::nullopt, kSelf);
        t.set("/backend/", "base", "0");
        t.set("/backend/", "irq", "0");
        XS_ASSERT_OK(env->write_tree(t));
        dir = be("virtio_disk", kGuest, kXvda, kSelf);
    }
    std::string started, dir;
};

TEST_F(DriverDomainModel, RefusedDeviceModelIsAnErrorKeyThatSaysWhatToChange) {
    ASSERT_NO_FATAL_FAILURE(start("refused"));
    ASSERT_TRUE(wait_error(dir)) << "state " << env->read(dir + "/state").value_or("-");
    std::string error = env->read(dir + "/xenvhost-error").value_or("");
    EXPECT_TRUE(error.starts_with("privilege refused: domain 3 may not be the device model of HVM guest 5")) << error;
    EXPECT_NE(error.find("XSM/FLASK"), std::string::npos) << error;
    EXPECT_NE(error.find("dom0"), std::string::npos) << error;
    // No state 2: the guest would find no device, and xenvhost-create reports the key.
    EXPECT_EQ(env->read(dir + "/state"), "1");
    EXPECT_EQ(env->read(dir + "/xenvhost-transport"), "none: Xen refuses this domain a device model for the HVM guest");
    EXPECT_EQ(env->read(dir + "/xenvhost-connected"), "0");
    EXPECT_FALSE(XenstoreEnv::wait_file(started, true, 1000)) << "a device model was started anyway";
}

TEST_F(DriverDomainModel, KernelRestrictedPrivcmdIsNamedInTheTransportKey) {
    ASSERT_NO_FATAL_FAILURE(start("restricted"));
    // The guest may be PV, which a driver domain serves through grants: no error, but the key says
    // that an HVM guest would get no device model, and why.
    ASSERT_TRUE(wait_state(dir, "2")) << "error " << env->read(dir + "/xenvhost-error").value_or("-");
    EXPECT_EQ(env->read(dir + "/xenvhost-transport"), xen::kNoTransportRestricted);
    EXPECT_FALSE(env->read(dir + "/xenvhost-error").has_value());
    EXPECT_FALSE(XenstoreEnv::wait_file(started, true, 1000)) << "a device model was started";
}

TEST_F(DriverDomainModel, PvGuestIsLearntFromXen) {
    ASSERT_NO_FATAL_FAILURE(start("pv"));
    ASSERT_TRUE(wait_state(dir, "2")) << "error " << env->read(dir + "/xenvhost-error").value_or("-");
    EXPECT_EQ(env->read(dir + "/xenvhost-transport"), kNoTransportPv);
    EXPECT_FALSE(env->read(dir + "/xenvhost-error").has_value());
    EXPECT_FALSE(XenstoreEnv::wait_file(started, true, 1000)) << "a device model was started for a PV guest";
}

}  // namespace
}  // namespace xenvhost::xstest
