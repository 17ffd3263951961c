// xenvhost-dm's virtio-pci as Linux meets it: config space, capability
// walk, BAR sizing and placement above RAM, the probe to DRIVER_OK, the
// block config, then requests notified through the notify region and
// completed through INTx and the ISR.
#include "dm_fixture.hpp"

#include "frontend/clock.hpp"

#include <unistd.h>

namespace xenvhost::component {
namespace {

using namespace vstatus;
class DmPci : public DmTest {};

TEST_F(DmPci, ConfigSpaceAndBarAsLinuxFindsThem) {
    EXPECT_NE(ready_.find("device disk pci 0000:00:10.0 intx A\n"), std::string::npos) << ready_;
    PciGuest p(*guest_, 16);
    EXPECT_EQ(p.config_read(0x00, 4), 0x10421af4u);  // modern virtio-blk
    EXPECT_EQ(p.config_read(0x08, 4) >> 8, 0x010000u) << "class: mass storage, SCSI";
    EXPECT_EQ(p.config_read(0x08, 1), 1u) << "revision 1";
    EXPECT_EQ(p.config_read(0x2c, 2), 0x1af4u);
    EXPECT_EQ(p.config_read(0x3d, 1), 1u) << "interrupt pin A";
    const auto caps = p.walk_capabilities();
    EXPECT_EQ(caps.count, 6u) << "the virtio capabilities and MSI-X";
    EXPECT_EQ(caps.msix_size, 2u) << "one queue and config";
    EXPECT_EQ(caps.msix_bar, 0);
    EXPECT_EQ(caps.msix_pba_bar, 0);
    EXPECT_EQ(caps.common_bar, 0);
    EXPECT_EQ(caps.notify_bar, 0);
    EXPECT_EQ(caps.isr_bar, 0);
    EXPECT_EQ(caps.device_bar, 0);
    EXPECT_TRUE(caps.pci_cfg);
    EXPECT_NE(caps.notify_multiplier, 0u);
    EXPECT_GE(caps.device_length, 8u);
    EXPECT_EQ(p.config_read(0x10, 4) & 0x7, 0x4u) << "a 64-bit memory BAR";
    const uint64_t size = p.size_bar();
    EXPECT_EQ(size, 0x8000u);
    for (uint32_t off : {caps.common, caps.notify, caps.isr, caps.device, caps.msix_table, caps.msix_pba})
        EXPECT_LT(off, size);
    EXPECT_TRUE(guest_->server().mmio.empty()) << "claimed before placement";
    p.place_bar(kBarAddress);
    EXPECT_EQ(p.config_read(0x10, 4), (kBarAddress & 0xffffffff) | 0x4);
    EXPECT_EQ(p.config_read(0x14, 4), 0u);
    EXPECT_TRUE(claimed(kBarAddress, kBarAddress + size - 1)) << guest_->server().describe();
    // Decoding off: the range goes back to Xen; on again: claimed again.
    p.set_command(PciGuest::kCommandMaster);
    EXPECT_TRUE(guest_->server().mmio.empty()) << guest_->server().describe();
    p.set_command(PciGuest::kCommandMaster | PciGuest::kCommandMemory);
    EXPECT_TRUE(claimed(kBarAddress, kBarAddress + size - 1));
    // Beyond the BAR nothing answers but Xen's null handler.
    const uint64_t before = guest_->unclaimed_accesses();
    EXPECT_EQ(mmio_read(*guest_, kBarAddress + size, 4, 0), 0xffffffffu);
    EXPECT_EQ(guest_->unclaimed_accesses(), before + 1);
}

TEST_F(DmPci, ProbeThenRequestsThroughNotifyAndIntx) {
    auto p = pci_device(0, kBarAddress);
    auto g = driver(*p);
    ASSERT_OK(g->bring_up());
    EXPECT_TRUE(g->features() & kVersion1);
    EXPECT_EQ(p->common_read(0x12, 2), 1u) << "num_queues";
    EXPECT_EQ(p->common_read(0x10, 2), 0xffffu) << "msix_config: no vector mapped";
    EXPECT_EQ(g->capacity(), kImageSize / 512);
    EXPECT_EQ(p->status(), kAcknowledge | kDriver | kFeaturesOk | kDriverOk);

    // One request, step by step: the interrupt arrives, the ISR read
    // returns the queue bit and clears it, the line drops.
    EXPECT_FALSE(p->line());
    const auto data = random_bytes(1, 4096);
    ASSERT_OK(g->submit(BlkCommand::out(8, data)));
    ASSERT_OK(g->wait_line(true));
    EXPECT_EQ(guest_->intx_level(16, 0), 1);
    EXPECT_EQ(p->config_read(0x06, 2) & 0x8, 0x8u) << "PCI status: interrupt pending";
    EXPECT_EQ(p->take_interrupt(), 0x1);
    EXPECT_EQ(guest_->intx_level(16, 0), 0);
    EXPECT_EQ(p->take_interrupt(), 0x0) << "read-to-clear";
    std::vector<BlkCompletion> done;
    ASSERT_OK(g->drain(done));
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(first_difference(image_bytes(0, 8 * 512, 4096), data), -1);

    // Several at once, 4 KiB and 64 KiB, verified against the image.
    ASSERT_NO_FATAL_FAILURE(
        verified_batch(*g, 0, {{0, 4096}, {100, 65536}, {1000, 4096}, {5000, 65536}, {30000, 65536}}, 0x100));
    ASSERT_OK(g->submit(BlkCommand::flush()));
    ASSERT_OK_AND_ASSIGN(auto flushed, g->collect(1));
    ASSERT_EQ(flushed.size(), 1u);
    EXPECT_EQ(flushed[0].status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(g->interrupt_bits(), 0x1) << "only queue interrupts";
    EXPECT_EQ(p->status() & kNeedsReset, 0);
}

TEST_F(DmPci, IntxDisableMasksTheLine) {
    auto p = pci_device(0, kBarAddress);
    auto g = driver(*p);
    ASSERT_OK(g->bring_up());
    p->set_command(PciGuest::kCommandMemory | PciGuest::kCommandMaster | 0x400);
    ASSERT_OK(g->submit(BlkCommand::in(0, 4096)));
    // The function's status shows the interrupt pending while the line stays low.
    const int64_t deadline = frontend::now_ms() + 5000;
    while (!(p->config_read(0x06, 2) & 0x8) && frontend::now_ms() < deadline) ::usleep(1000);
    EXPECT_EQ(p->config_read(0x06, 2) & 0x8, 0x8u) << "no interrupt pending after 5 s";
    std::vector<BlkCompletion> done;
    ASSERT_OK(g->drain(done));
    ASSERT_EQ(done.size(), 1u);
    EXPECT_FALSE(p->line());
    p->set_command(PciGuest::kCommandMemory | PciGuest::kCommandMaster);
    ASSERT_OK(g->wait_line(true));
    EXPECT_EQ(p->take_interrupt(), 0x1);
    EXPECT_FALSE(p->line());
}

}  // namespace
}  // namespace xenvhost::component
