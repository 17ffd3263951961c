// The sandboxed device model: xenvhostd starts an HVM guest's xenvhost-dm as
// that guest's identity (its worker's uid, not another guest's), without
// groups or capabilities, with no_new_privs and a seccomp filter, in a root
// that holds only the guest's socket directory; the guest's virtio-blk driver
// (played through the double's ioreq page) still reads and writes the disk
// through it, and after the worker is killed and restarted the device model
// reconnects to the new one by path and the driver carries on.

#include "tests/component/dm_blk_guest.hpp"
#include "tests/component/dm_guest_transport.hpp"
#include "tests/frontend/xen_guest_memory.hpp"
#include "tests/xenstore/external_fixture.hpp"
#include "tests/xenstore/model_fixture.hpp"
#include "tests/xenstore/proc_status.hpp"

#include <linux/virtio_blk.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iostream>

namespace xenvhost::xstest {
namespace {

using component::BlkGuest;
using component::PciGuest;

constexpr uint64_t kBarAddress = 0xe0000000;  // above RAM, where firmware puts BARs
constexpr size_t kRingRegion = 1;             // the RAM above the hole
constexpr unsigned kOtherGuest = 6;

std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<uint8_t> pattern(uint64_t seed, size_t len) {
    std::vector<uint8_t> b(len);
    for (size_t i = 0; i < len; ++i) b[i] = static_cast<uint8_t>((seed * 131 + i * 7 + (i >> 9)) & 0xff);
    return b;
}

std::vector<uint8_t> file_bytes(const std::string& path, uint64_t offset, size_t len) {
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    std::vector<uint8_t> b(len);
    in.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(len));
    b.resize(static_cast<size_t>(in.gcount()));
    return b;
}

class DeviceModelSandbox : public DeviceModelLevel {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root: the uid drop is real";
        DeviceModelLevel::SetUp();
    }

    // A write of `len` bytes at `sector` lands in the image, and reads back.
    void expect_guest_io(BlkGuest& g, const std::string& image_path, uint64_t sector, size_t len, uint64_t seed) {
        const auto data = pattern(seed, len);
        ASSERT_TRUE(g.submit(frontend::BlkCommand::out(sector, data)));
        auto wrote = g.collect(1);
        ASSERT_TRUE(wrote) << wrote.error().message;
        ASSERT_EQ(wrote->size(), 1u);
        EXPECT_EQ((*wrote)[0].status, VIRTIO_BLK_S_OK);
        EXPECT_EQ(file_bytes(image_path, sector * 512, len), data) << "the image does not hold what the guest wrote";
        ASSERT_TRUE(g.submit(frontend::BlkCommand::in(sector, static_cast<uint32_t>(len))));
        auto read = g.collect(1);
        ASSERT_TRUE(read) << read.error().message;
        ASSERT_EQ(read->size(), 1u);
        EXPECT_EQ((*read)[0].status, VIRTIO_BLK_S_OK);
        auto back = g.blk().data((*read)[0]);
        ASSERT_TRUE(back) << back.error().message;
        EXPECT_EQ(*back, data) << "the guest read back something else";
    }
};

TEST_F(DeviceModelSandbox, ModelRunsAsItsGuestsUidInARootOfItsSocketsAndServesTheGuest) {
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double());
    // Another guest, PV (one guest under the double): its worker's uid is not the model's.
    XS_ASSERT_OK(env->create_domain(kOtherGuest, "guest6"));
    XS_ASSERT_OK(env->xs().write(fmt::format("/libxl/{}/type", kOtherGuest), "pv"));
    const std::string img = image("a.img"), img6 = image("g6.img");
    XS_ASSERT_OK(env->write_tree(x86_disk(kXvda, img)));
    XS_ASSERT_OK(env->write_tree(disk(kOtherGuest, kXvda, img6)));
    const std::string dir = be("virtio_disk", kGuest, kXvda), dir6 = be("virtio_disk", kOtherGuest, kXvda);
    ASSERT_TRUE(wait_state(dir, "2")) << env->read(dir + "/xenvhost-error").value_or("no error key");
    ASSERT_TRUE(wait_state(dir6, "2"));
    const pid_t dm = model_pid(dir);
    ASSERT_TRUE(pid_alive(dm));

    expect_sandboxed(dm, kGuest);
    EXPECT_EQ(uid_of(dm), uid_of(worker_pid(dir))) << "one identity per guest";
    EXPECT_NE(uid_of(dm), uid_of(worker_pid(dir6)));
    EXPECT_NE(uid_of(dm), "0");

    // Its root: the path to the guest's socket directory and nothing beside it.
    const std::string root = fmt::format("/proc/{}/root", dm);
    const std::string guest_dir = fmt::format("{}/dom{}", env->run_dir(), kGuest);
    std::string at = root;
    for (const auto& part : std::filesystem::path(guest_dir).relative_path()) {
        EXPECT_EQ(entries(at), std::vector<std::string>{part.string()}) << at;
        at += "/" + part.string();
    }
    struct stat st{};
    const std::string sock = socket("virtio_disk", kGuest, kXvda);
    EXPECT_EQ(::stat((root + sock).c_str(), &st), 0) << sock;
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_uid, kTestUidRangeBase + kGuest) << "the guest's uid must be able to connect";
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "nobody else may";
    EXPECT_NE(::stat((root + socket("virtio_disk", kOtherGuest, kXvda)).c_str(), &st), 0)
        << "another guest's socket is in reach";
    EXPECT_NE(::stat((root + "/dev/xen").c_str(), &st), 0);
    EXPECT_NE(::stat((root + img).c_str(), &st), 0) << "the guest's image is in reach";
    // On the host, the other guest's directory is closed to this guest's gid.
    ASSERT_EQ(::stat(fmt::format("{}/dom{}", env->run_dir(), kOtherGuest).c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, kTestUidRangeBase + kOtherGuest);
    EXPECT_EQ(st.st_mode & 07, 0u);

    // The guest's driver reaches the disk through the sandboxed model (the
    // memory table's privcmd fds were opened before the drop).
    const std::vector<frontend::RegionLayout> ram{{0, 0xa0000}, {0xc0000, kGuestRamKib * 1024 - 0xc0000}};
    auto mem = frontend::make_xen_guest_memory(xd->files(), ram);
    ASSERT_TRUE(mem) << mem.error().message;
    try {
        PciGuest pci(xd->vcpus(), 16);
        const auto caps = pci.walk_capabilities();
        ASSERT_EQ(caps.common_bar, 0);
        pci.place_bar(kBarAddress);
        BlkGuest g(pci, *mem, kRingRegion);
        auto up = g.bring_up();
        ASSERT_TRUE(up) << up.error().message;
        ASSERT_NO_FATAL_FAILURE(expect_guest_io(g, img, 64, 8192, 1));

        // The worker dies; xenvhostd starts another on a new socket at the same
        // path, which the model (in its own root) reconnects to by itself.
        const pid_t first = worker_pid(dir);
        ASSERT_EQ(::kill(first, SIGKILL), 0);
        ASSERT_TRUE(env->wait_value(dir + "/xenvhost-restarts", "1", kWaitMs));
        ASSERT_TRUE(env->wait_until(dir, [&] { return worker_pid(dir) != first && pid_alive(worker_pid(dir)); },
                                    kWaitMs));
        ASSERT_TRUE(env->wait_value(dir + "/xenvhost-connected", "1", kWaitMs)) << "the model did not reconnect";
        EXPECT_EQ(model_pid(dir), dm) << "the model was replaced, not reconnected";
        expect_sandboxed(worker_pid(dir), kGuest);
        ASSERT_NO_FATAL_FAILURE(expect_guest_io(g, img, 256, 4096, 2));
    } catch (const component::GuestHang& e) {
        FAIL() << "the guest hung: " << e.what();
    }
    EXPECT_TRUE(pid_alive(dm));
    EXPECT_EQ(daemon->log().find("cannot deprivilege"), std::string::npos);
    if (HasFailure()) std::cerr << daemon->log();
}

TEST_F(DeviceModelSandbox, WithoutAUserNoDeviceModelRunsAsRoot) {
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double(
        {"--guest-uid-range-base", "xenvhost-test-no-such-user", "--guest-user", "xenvhost-test-no-such-user"}));
    XS_ASSERT_OK(env->write_tree(x86_disk(kXvda, image("a.img"))));
    const std::string dir = be("virtio_disk", kGuest, kXvda);
    ASSERT_TRUE(wait_error(dir));
    const auto why = env->read(dir + "/xenvhost-error").value_or("");
    EXPECT_NE(why.find("as root"), std::string::npos) << why;
    EXPECT_NE(why.find("run-as-root"), std::string::npos) << why;
    EXPECT_NE(env->read(dir + "/state"), "2");
    EXPECT_TRUE(daemon_children("xenvhost-dm").empty()) << "a device model runs as root";
}

TEST_F(DeviceModelSandbox, RunAsRootWhenTheConfigurationSaysSo) {
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double({"--guest-uid-range-base", "xenvhost-test-no-such-user",
                                                   "--guest-user", "xenvhost-test-no-such-user", "--run-as-root",
                                                   "yes"}));
    XS_ASSERT_OK(env->write_tree(x86_disk(kXvda, image("a.img"))));
    const std::string dir = be("virtio_disk", kGuest, kXvda);
    ASSERT_TRUE(wait_state(dir, "2")) << env->read(dir + "/xenvhost-error").value_or("no error key");
    const pid_t dm = model_pid(dir);
    EXPECT_EQ(uid_of(dm), "0");
    EXPECT_TRUE(option_values(process_args(dm), "--sandbox-user").empty());
    EXPECT_NE(daemon->log().find("its device model runs as root"), std::string::npos);
}

TEST_F(DeviceModelSandbox, ACompromisedDeviceModelGetsNothingElse) {
    ASSERT_NO_FATAL_FAILURE(guest("hvm"));
    auto g = DoubleGuest::create(env->dir() + "/xendouble", kGuest, kGuestVcpus, kGuestRamKib);
    ASSERT_TRUE(g.has_value()) << g.error().message;
    xd = std::move(*g);
    // The victim: another guest (PV), its worker and its socket, which the attacker knows of.
    XS_ASSERT_OK(env->create_domain(kOtherGuest, "victim"));
    XS_ASSERT_OK(env->xs().write(fmt::format("/libxl/{}/type", kOtherGuest), "pv"));
    const std::string home = fmt::format("{}/dom{}", env->run_dir(), kGuest);
    auto vars = xd->daemon_env();  // the daemon passes its environment on to the device model
    vars.push_back(fmt::format("XENVHOST_ESCAPE_DOMID={}", kGuest));
    vars.push_back(fmt::format("XENVHOST_ESCAPE_VICTIM_PIDFILE={}/dom{}/worker.pid", env->run_dir(), kOtherGuest));
    vars.push_back("XENVHOST_ESCAPE_VICTIM_SOCKET=" + socket("virtio_disk", kOtherGuest, kXvda));
    vars.push_back("XENVHOST_ESCAPE_CONTROL_SOCKET=" + home + "/control");
    ASSERT_NO_FATAL_FAILURE(start_daemon({"--device-model", build_bin("xenvhost-dm-escape")}, vars));
    const std::string img6 = image("g6.img");
    XS_ASSERT_OK(env->write_tree(disk(kOtherGuest, kXvda, img6)));
    const std::string dir6 = be("virtio_disk", kOtherGuest, kXvda);
    ASSERT_TRUE(wait_state(dir6, "2"));
    const pid_t victim = worker_pid(dir6);

    XS_ASSERT_OK(env->write_tree(x86_disk(kXvda, image("a.img"))));
    const std::string dir = be("virtio_disk", kGuest, kXvda);
    ASSERT_TRUE(wait_state(dir, "2")) << env->read(dir + "/xenvhost-error").value_or("no error key");
    expect_sandboxed(model_pid(dir), kGuest);

    const std::string log = daemon->log();
    for (auto attempt : {"open /dev/xen/privcmd", "open /dev/xen/gntdev", "connect to another guest's socket",
                         "connect to its worker's control socket", "signal another guest's worker",
                         "ptrace another guest's worker", "create a network socket", "fork", "exec a shell"})
        EXPECT_NE(log.find(fmt::format("escape: {}: refused", attempt)), std::string::npos) << attempt;
    EXPECT_NE(log.find("escape: done"), std::string::npos);
    EXPECT_EQ(log.find("SUCCEEDED"), std::string::npos);
    // The victim is untouched and still served; the attacker's guest still has its device.
    EXPECT_EQ(worker_pid(dir6), victim);
    EXPECT_TRUE(pid_alive(victim));
    expect_io(socket("virtio_disk", kOtherGuest, kXvda), img6, 8);
    EXPECT_TRUE(pid_alive(model_pid(dir)));
    if (HasFailure()) std::cerr << log;
}

// A guest whose only device has an external back-end: no worker is started
// (and refused) first, so the device model's own refusal is what the key says.
class ExternalModelSandbox : public ExternalBackendLevel {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root: the uid drop is real";
        ExternalBackendLevel::SetUp();
    }
};

TEST_F(ExternalModelSandbox, WithoutAUserTheDeviceModelIsRefusedAsRootAndTheKeySaysWhy) {
    auto args = external_args("virtio,device22");
    for (const char* a : {"--guest-uid-range-base", "xenvhost-test-no-such-user", "--guest-user",
                          "xenvhost-test-no-such-user"})
        args.push_back(a);
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double(args));
    ASSERT_NO_FATAL_FAILURE(start_backend(external_socket(kGuest), image("ext.img"), xd->daemon_env()));
    XS_ASSERT_OK(env->write_tree(x86_virtio(0, "virtio,device22")));
    const std::string dir = be("virtio", kGuest, 0);
    ASSERT_TRUE(wait_error(dir)) << "state " << env->read(dir + "/state").value_or("-");
    const std::string why = env->read(dir + "/xenvhost-error").value_or("");
    EXPECT_NE(why.find(fmt::format("dom{}: refusing to start its device model as root", kGuest)), std::string::npos)
        << why;
    EXPECT_NE(why.find("run-as-root"), std::string::npos) << why;
    EXPECT_NE(env->read(dir + "/state"), "2");
    EXPECT_TRUE(daemon_children().empty()) << "a device model (or a worker) runs";
}

}  // namespace
}  // namespace xenvhost::xstest
