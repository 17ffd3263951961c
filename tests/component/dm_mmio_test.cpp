// xenvhost-dm's virtio-mmio version 2 at a base above RAM with IRQ 5: the
// registers Linux's virtio_mmio reads first, the probe, and requests
// completed through the IRQ line and InterruptStatus / InterruptACK.
#include "dm_fixture.hpp"

namespace xenvhost::component {
namespace {

using namespace vstatus;
constexpr uint64_t kBase = 0xfe000000;
constexpr unsigned kIrq = 5;

class DmMmio : public DmTest {
protected:
    std::vector<DmDeviceSpec> devices() const override {
        DmDeviceSpec d;
        d.mmio = true;
        d.base = kBase;
        d.irq = kIrq;
        return {d};
    }
};

TEST_F(DmMmio, RegistersProbeAndRequestsThroughTheIrq) {
    EXPECT_NE(ready_.find("device disk mmio 0xfe000000 irq 5\n"), std::string::npos) << ready_;
    EXPECT_TRUE(claimed(kBase, kBase + 0x1ff)) << guest_->server().describe();
    auto m = mmio_device(0);
    EXPECT_EQ(m->reg(0x000), 0x74726976u) << "magic";
    EXPECT_EQ(m->reg(0x004), 2u) << "version";
    EXPECT_EQ(m->reg(0x008), 2u) << "device id: block";
    auto g = driver(*m);
    ASSERT_OK(g->bring_up());
    EXPECT_EQ(g->capacity(), kImageSize / 512);
    m->select_queue(1);
    EXPECT_EQ(m->queue_max(), 0u) << "queue 1 does not exist";

    EXPECT_FALSE(m->line());
    ASSERT_OK(g->submit(BlkCommand::in(0, 4096)));
    ASSERT_OK(g->wait_line(true));
    EXPECT_EQ(guest_->irq_level(kIrq), 1);
    EXPECT_EQ(m->reg(0x060), 0x1u) << "InterruptStatus: used buffer";
    m->set_reg(0x064, 0x1);
    EXPECT_EQ(guest_->irq_level(kIrq), 0);
    EXPECT_EQ(m->reg(0x060), 0x0u);
    std::vector<BlkCompletion> done;
    ASSERT_OK(g->drain(done));
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].status, VIRTIO_BLK_S_OK);
    ASSERT_OK_AND_ASSIGN(auto back, g->blk().data(done[0]));
    EXPECT_EQ(first_difference(back, image_bytes(0, 0, 4096)), -1);

    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{8, 4096}, {64, 65536}, {4096, 65536}, {20000, 4096}}, 0x200));
    ASSERT_OK(g->submit(BlkCommand::flush()));
    ASSERT_OK_AND_ASSIGN(auto flushed, g->collect(1));
    ASSERT_EQ(flushed.size(), 1u);
    EXPECT_EQ(flushed[0].status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(g->interrupt_bits(), 0x1);
    EXPECT_EQ(m->status(), kAcknowledge | kDriver | kFeaturesOk | kDriverOk);
}

TEST_F(DmMmio, ResetAndProbeAgain) {
    auto m = mmio_device(0);
    auto g = driver(*m);
    ASSERT_OK(g->bring_up());
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{0, 4096}}, 0x300));
    m->set_status(0);
    EXPECT_EQ(m->status(), 0u);
    ASSERT_OK(g->bring_up());
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{16, 65536}, {512, 4096}}, 0x301));
}

}  // namespace
}  // namespace xenvhost::component
