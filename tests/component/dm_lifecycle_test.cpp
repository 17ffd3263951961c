// How xenvhost-dm ends: SIGTERM takes the devices off the bus, destroys the
// ioreq server and exits 0; SIGKILL leaves the server in Xen.
#include "dm_fixture.hpp"

#include <sys/wait.h>

namespace xenvhost::component {
namespace {

class DmLifecycle : public DmTest {};

TEST_F(DmLifecycle, SigtermDestroysTheServerAndExitsZero) {
    auto p = pci_device(0, kBarAddress);
    auto g = driver(*p);
    ASSERT_OK(g->bring_up());
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{0, 4096}}, 0x600));
    ASSERT_TRUE(claimed(kBarAddress, kBarAddress + 0x7fff));
    // An interrupt the guest never took: the device leaving the bus drops its line.
    ASSERT_OK(g->submit(BlkCommand::in(0, 4096)));
    ASSERT_OK(g->wait_line(true));
    ASSERT_NO_FATAL_FAILURE(stop_dm_clean());
    EXPECT_EQ(guest_->intx_level(16, 0), 0);
    // Nothing claims the function any more: Xen's null handler answers.
    EXPECT_EQ(p->config_read(0, 4), 0xffffffffu);
    EXPECT_EQ(mmio_read(*guest_, kBarAddress, 4, 0), 0xffffffffu);
    EXPECT_NE(dm_->log().find("ioreqs:"), std::string::npos) << "counters logged at exit";
}

// A killed device model cannot destroy its server: it stays in Xen with its
// claims until someone destroys it by id (xenvhostd does, with the id from
// the ready report; a supervisor must).
TEST_F(DmLifecycle, SigkillLeavesTheServerForTheSupervisor) {
    auto p = pci_device(0, kBarAddress);
    ASSERT_OK_AND_ASSIGN(int status, dm_->kill_now());
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << describe_wait_status(status);
    const auto s = guest_->server();
    EXPECT_TRUE(s.exists) << s.describe();
    EXPECT_FALSE(s.pcidevs.empty()) << s.describe();
    EXPECT_TRUE(claimed(kBarAddress, kBarAddress + 0x7fff)) << s.describe();
    EXPECT_NE(ready_.find(fmt::format("ioreq-server {}\n", s.id)), std::string::npos) << ready_;
}

}  // namespace
}  // namespace xenvhost::component
