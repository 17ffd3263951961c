// The ioreq side of the Xen double: a minimal device model on the real libxen
// APIs (xendouble-mini-dm), preloaded with libxendouble.so in its own
// process, driven by IoreqGuest playing the guest's vCPUs. Shows that the
// double behaves as Xen for what a device model meets: reads come back,
// writes arrive, two vCPUs at once, invalidates answered, interrupt levels
// recorded, claims and restriction checked, destroy releasing everything.
#include "fixture.hpp"

#include "frontend/ioreq_guest.hpp"
#include "frontend/xen_double_files.hpp"
#include "frontend/xen_worker.hpp"
#include "xendouble/mini_dm/mini_dm.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace xenvhost::component {
namespace {

namespace xd = xendouble;
namespace md = xendouble::mini_dm;
constexpr uint32_t kDomid = 7;
constexpr unsigned kVcpus = 2;
const uint32_t kSbdf = xd::pci_sbdf(0, 0, md::kPciDevice, 0);

// The device model's process, killed if the test did not stop it.
class DmProcess {
public:
    ~DmProcess() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    Result<void> start(const std::string& program, const std::string& log,
                       const std::vector<std::pair<std::string, std::string>>& vars) {
        std::vector<std::string> env;
        for (char** e = environ; *e; ++e) env.emplace_back(*e);
        for (const auto& [k, v] : vars) env.push_back(k + "=" + v);
        std::vector<char*> envp;
        for (auto& s : env) envp.push_back(s.data());
        envp.push_back(nullptr);
        std::string domid = std::to_string(kDomid), vcpus = std::to_string(kVcpus);
        std::string prog = program;
        char* argv[] = {prog.data(), domid.data(), vcpus.data(), nullptr};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        int rc = ::posix_spawn(&pid_, prog.c_str(), &fa, nullptr, argv, envp.data());
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) {
            pid_ = -1;
            errno = rc;
            return fail_errno("spawn {}", program);
        }
        return {};
    }
    // SIGTERM and the exit status.
    int stop() {
        int status = -1;
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return status;
    }

private:
    pid_t pid_ = -1;
};

class XenDoubleIoreq : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_OK_AND_ASSIGN(auto dir, TempDir::create("xenvhost-ioreq"));
        dir_ = std::make_unique<TempDir>(std::move(dir));
        // The device model's foreign memory handle opens the guest's memory files.
        ASSERT_OK_AND_ASSIGN(auto files, XenDoubleFiles::create(dir_->path(), 16, kDomid));
        files_ = std::make_unique<XenDoubleFiles>(std::move(files));
        ASSERT_OK_AND_ASSIGN(guest_, IoreqGuest::create(dir_->path(), kDomid, kVcpus));
        auto vars = guest_->environment();
        vars.emplace_back("LD_PRELOAD", xen_worker_defaults(XENVHOST_BUILD_BIN).double_lib);
        const char* asan = std::getenv("ASAN_OPTIONS");
        vars.emplace_back("ASAN_OPTIONS", std::string(asan && *asan ? asan : "") + (asan && *asan ? ":" : "") +
                                              "verify_asan_link_order=0");
        ASSERT_OK(dm_.start(std::string(XENVHOST_BUILD_BIN) + "/xendouble-mini-dm", log_path(), vars));
        ASSERT_OK(guest_->wait_ready());
    }
    void TearDown() override {
        if (HasFailure()) std::cout << "---- device model log ----\n" << log() << "----\n";
    }
    std::string log_path() const { return dir_->file("dm.log"); }
    std::string log() const {
        std::ifstream in(log_path());
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

    std::unique_ptr<TempDir> dir_;
    std::unique_ptr<XenDoubleFiles> files_;
    std::unique_ptr<IoreqGuest> guest_;
    DmProcess dm_;
};

TEST_F(XenDoubleIoreq, ReadsComeBackAndWritesArrive) {
    ASSERT_OK_AND_ASSIGN(uint64_t id, guest_->mmio_read(md::kMmioBase + md::kRegId, 8));
    EXPECT_EQ(id, md::kIdValue);
    ASSERT_OK_AND_ASSIGN(uint64_t low, guest_->mmio_read(md::kMmioBase + md::kRegId, 2));
    EXPECT_EQ(low, md::kIdValue & 0xffff);
    ASSERT_OK(guest_->mmio_write(md::kMmioBase + md::kRegScratch, 4, 0xcafef00d));
    ASSERT_OK_AND_ASSIGN(uint64_t scratch, guest_->mmio_read(md::kMmioBase + md::kRegScratch, 8));
    EXPECT_EQ(scratch, 0xcafef00du);
    ASSERT_OK_AND_ASSIGN(uint32_t pci_id, guest_->pci_config_read(kSbdf, 0, 4));
    EXPECT_EQ(pci_id, md::kPciId);
    ASSERT_OK(guest_->pci_config_write(kSbdf, 0x40, 2, 0xbeef));
    ASSERT_OK_AND_ASSIGN(uint64_t reg, guest_->pci_config_read(kSbdf, 0x40, 2));
    EXPECT_EQ(reg, 0xbeefu);
    const auto st = guest_->server();
    EXPECT_EQ(st.counter(xd::kGuestRequests), 7u);
    EXPECT_EQ(st.counter(xd::kIoreqsAnswered), 7u);
    EXPECT_NE(log().find("write 0x8 = 0xcafef00d"), std::string::npos);
}

TEST_F(XenDoubleIoreq, UnclaimedAccessesGoToTheNullHandler) {
    ASSERT_OK_AND_ASSIGN(uint64_t beyond, guest_->mmio_read(md::kMmioBase + md::kMmioSize, 4));
    EXPECT_EQ(beyond, 0xffffffffu);
    ASSERT_OK_AND_ASSIGN(uint64_t other_dev, guest_->pci_config_read(xd::pci_sbdf(0, 0, 4, 0), 0, 2));
    EXPECT_EQ(other_dev, 0xffffu);
    ASSERT_OK(guest_->mmio_write(md::kMmioBase - 8, 8, 1));
    EXPECT_EQ(guest_->unclaimed_accesses(), 3u);
    EXPECT_EQ(guest_->server().counter(xd::kGuestRequests), 0u);
}

TEST_F(XenDoubleIoreq, TwoVcpusAtOnce) {
    auto run = [&](unsigned vcpu, std::string* error) {
        for (int i = 0; i < 200; ++i) {
            auto r = guest_->mmio_read(md::kMmioBase + md::kRegVcpu, 4, vcpu);
            if (!r || *r != vcpu) {
                *error = r ? fmt::format("vCPU {} read {}", vcpu, *r) : r.error().message;
                return;
            }
        }
    };
    std::string e0, e1;
    std::thread t0(run, 0, &e0), t1(run, 1, &e1);
    t0.join();
    t1.join();
    EXPECT_EQ(e0, "");
    EXPECT_EQ(e1, "");
    EXPECT_EQ(guest_->server().counter(xd::kIoreqsAnswered), 400u);
}

TEST_F(XenDoubleIoreq, InvalidateIsAnswered) {
    ASSERT_OK(guest_->invalidate(1));
    ASSERT_OK(guest_->invalidate(0));
    ASSERT_OK_AND_ASSIGN(uint64_t n, guest_->mmio_read(md::kMmioBase + md::kRegInvalidates, 8));
    EXPECT_EQ(n, 2u);
}

TEST_F(XenDoubleIoreq, LevelsAreRecorded) {
    ASSERT_OK(guest_->mmio_write(md::kMmioBase + md::kRegIrq, 4, 1));
    EXPECT_EQ(guest_->intx_level(md::kPciDevice, 0), 1);
    EXPECT_EQ(guest_->irq_level(md::kIsaIrq), 1);
    ASSERT_OK(guest_->mmio_write(md::kMmioBase + md::kRegIrq, 4, 1));  // no change
    ASSERT_OK(guest_->mmio_write(md::kMmioBase + md::kRegIrq, 4, 0));
    EXPECT_EQ(guest_->intx_level(md::kPciDevice, 0), 0);
    EXPECT_EQ(guest_->irq_level(md::kIsaIrq), 0);
    const auto st = guest_->server();
    EXPECT_EQ(st.counter(xd::kIntxChanges), 2u);
    EXPECT_EQ(st.counter(xd::kIrqChanges), 2u);
    EXPECT_EQ(st.counter(xd::kLevelCalls), 6u);
}

TEST_F(XenDoubleIoreq, ClaimsAndRefusalsAsXen) {
    const auto st = guest_->server();
    EXPECT_TRUE(st.exists && st.enabled) << st.describe();
    EXPECT_EQ(st.page_maps, 1u);
    ASSERT_EQ(st.mmio.size(), 1u) << st.describe();
    EXPECT_EQ(st.mmio[0], (IoreqServerState::Range{md::kMmioBase, md::kMmioBase + md::kMmioSize - 1}));
    EXPECT_EQ(st.pcidevs, std::vector<uint32_t>{kSbdf});
    // The device model checks a second bind after the ones wait_ready()
    // saw, then writes its verdict: wait for the verdict line.
    ASSERT_OK(guest_->wait_for(
        [this](const IoreqServerState&) {
            const std::string l = log();
            return l.find("checks passed") != std::string::npos || l.find("checks FAILED") != std::string::npos;
        },
        "the device model's verdict on its checks", 10000));
    const std::string l = log();
    EXPECT_NE(l.find("checks passed"), std::string::npos);
    EXPECT_EQ(l.find("FAILED"), std::string::npos);
    for (const char* check : {"second-create", "claim-overlap", "other-domain-create", "other-domain-bind",
                              "state-unknown-id", "map-other-resource", "claim-pci-bad-device"})
        EXPECT_NE(l.find(std::string("check ") + check + " ok"), std::string::npos) << check;
}

TEST_F(XenDoubleIoreq, DestroyReleasesEverything) {
    ASSERT_OK(guest_->mmio_write(md::kMmioBase + md::kRegIrq, 4, 1));
    const int status = dm_.stop();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    EXPECT_NE(log().find("teardown passed"), std::string::npos);
    const auto st = guest_->server();
    EXPECT_FALSE(st.exists || st.enabled) << st.describe();
    EXPECT_TRUE(st.mmio.empty() && st.pcidevs.empty()) << st.describe();
    EXPECT_EQ(st.page_maps, 0u);
    EXPECT_EQ(st.counter(xd::kServerDestroys), 1u);
    for (auto b : st.bindings) EXPECT_EQ(b, xd::kPortClosed);
    // Nothing claims the device any more: Xen's null handler answers.
    ASSERT_OK_AND_ASSIGN(uint64_t id, guest_->mmio_read(md::kMmioBase + md::kRegId, 4));
    EXPECT_EQ(id, 0xffffffffu);
    // A line the device model left asserted stays so: levels are the domain's.
    EXPECT_EQ(guest_->intx_level(md::kPciDevice, 0), 1);
}

}  // namespace
}  // namespace xenvhost::component
