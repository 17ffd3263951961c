// Hostile register sequences through the real xenvhost-dm: each ends in a
// clean refusal or the device marked broken (DEVICE_NEEDS_RESET), the
// device model stays up and answering, and after a reset the same device
// probes and serves again.
#include "dm_fixture.hpp"

namespace xenvhost::component {
namespace {

using namespace vstatus;

class DmHostile : public DmTest {
protected:
    void SetUp() override {
        DmTest::SetUp();
        if (HasFatalFailure()) return;
        p_ = pci_device(0, kBarAddress);
        g_ = driver(*p_);
    }
    // Up to FEATURES_OK as a good driver goes.
    void features_ok() {
        p_->set_status(0);
        p_->set_status(kAcknowledge);
        p_->set_status(kAcknowledge | kDriver);
        p_->set_driver_features(p_->device_features() & kLinuxBlkFeatures);
        p_->set_status(kAcknowledge | kDriver | kFeaturesOk);
        ASSERT_EQ(p_->status(), kAcknowledge | kDriver | kFeaturesOk);
    }
    // Still alive, and a reset and a good probe serve again.
    void serves_again(uint64_t seed) {
        ASSERT_TRUE(dm_->alive()) << "xenvhost-dm died";
        ASSERT_OK(g_->bring_up());
        ASSERT_NO_FATAL_FAILURE(verified_batch(*g_, 0, {{seed % 1000, 4096}, {2048, 65536}}, seed));
    }
    std::unique_ptr<PciGuest> p_;
    std::unique_ptr<BlkGuest> g_;
};

TEST_F(DmHostile, QueueSizesRefused) {
    ASSERT_NO_FATAL_FAILURE(features_ok());
    p_->select_queue(0);
    const uint32_t max = p_->queue_max();
    ASSERT_GT(max, 0u);
    for (uint32_t bad : {0u, 100u, max * 2, 0xffffu}) {
        p_->set_queue_size(bad);
        EXPECT_EQ(p_->queue_size(), max) << "size " << bad << " kept";
    }
    EXPECT_EQ(p_->status() & kNeedsReset, 0) << "a refused size is no reason to break";
    ASSERT_NO_FATAL_FAILURE(serves_again(0x1000));
}

TEST_F(DmHostile, NotifyForQueuesThatDoNotExist) {
    ASSERT_OK(g_->bring_up());
    for (uint16_t q : {1, 5, 1023}) p_->notify(q);
    // Past the notify region's last slot: the MSI-X table, which takes no
    // 2-byte write; past the BAR: nobody's.
    mmio_write(*guest_, kBarAddress + p_->caps().notify + 0x1000, 2, 0, 0);
    mmio_write(*guest_, kBarAddress + 0x8000, 2, 0, 0);
    EXPECT_EQ(p_->status(), kAcknowledge | kDriver | kFeaturesOk | kDriverOk);
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g_, 0, {{3, 4096}}, 0x1100));
    ASSERT_NO_FATAL_FAILURE(serves_again(0x1101));
}

TEST_F(DmHostile, BarMovedOntoRamIsNotDecoded) {
    for (uint64_t ram : {uint64_t{0x100000}, uint64_t{0x0}, kGuestBytes - 0x4000, kLowEnd - 0x2000}) {
        p_->place_bar(ram);
        const auto s = guest_->server();
        EXPECT_TRUE(s.mmio.empty()) << "BAR at " << ram << ": " << s.describe();
    }
    // Its registers are nowhere now: Xen's null handler answers.
    EXPECT_EQ(mmio_read(*guest_, kBarAddress + p_->caps().common + 0x14, 1, 0), 0xffu);
    p_->place_bar(kBarAddress);
    EXPECT_TRUE(claimed(kBarAddress, kBarAddress + 0x7fff));
    ASSERT_NO_FATAL_FAILURE(serves_again(0x1200));
}

TEST_F(DmHostile, RingsInARamHoleBreakTheDevice) {
    BringUp hole;
    hole.rings_at = kLowEnd;  // 0xa0000: between the two RAM ranges
    EXPECT_FALSE(g_->bring_up(hole).has_value());
    EXPECT_TRUE(g_->last_status() & kNeedsReset) << "status " << unsigned{g_->last_status()};
    ASSERT_OK(g_->wait_line(true));
    EXPECT_EQ(p_->take_interrupt(), 0x2) << "a config interrupt tells the driver";
    BringUp beyond;
    beyond.rings_at = 0x40000000;  // past the end of RAM
    EXPECT_FALSE(g_->bring_up(beyond).has_value());
    EXPECT_TRUE(g_->last_status() & kNeedsReset);
    ASSERT_NO_FATAL_FAILURE(serves_again(0x1300));
}

TEST_F(DmHostile, StatusOutOfOrder) {
    p_->set_status(0);
    p_->set_status(kAcknowledge);
    p_->set_status(kAcknowledge | kDriver);
    p_->set_status(kAcknowledge | kDriver | kDriverOk);  // without FEATURES_OK
    EXPECT_TRUE(p_->status() & kNeedsReset);
    EXPECT_FALSE(p_->status() & kDriverOk);
    p_->set_status(kAcknowledge | kDriver | kFeaturesOk | kDriverOk);  // ignored until reset
    EXPECT_FALSE(p_->status() & kDriverOk);
    ASSERT_NO_FATAL_FAILURE(serves_again(0x1400));

    p_->set_status(0);
    p_->set_status(kFeaturesOk);  // before ACKNOWLEDGE and DRIVER
    EXPECT_TRUE(p_->status() & kNeedsReset);
    ASSERT_NO_FATAL_FAILURE(serves_again(0x1401));

    ASSERT_NO_FATAL_FAILURE(features_ok());
    p_->set_status(kAcknowledge);  // clears bits without a reset
    EXPECT_TRUE(p_->status() & kNeedsReset);
    ASSERT_NO_FATAL_FAILURE(serves_again(0x1402));

    // FEATURES_OK without VERSION_1: refused, not broken.
    p_->set_status(0);
    p_->set_status(kAcknowledge | kDriver);
    p_->set_driver_features(p_->device_features() & ~kVersion1 & kLinuxBlkFeatures);
    p_->set_status(kAcknowledge | kDriver | kFeaturesOk);
    EXPECT_EQ(p_->status(), kAcknowledge | kDriver);
    ASSERT_NO_FATAL_FAILURE(serves_again(0x1403));
}

TEST_F(DmHostile, QueueChangedAfterDriverOk) {
    ASSERT_OK(g_->bring_up());
    p_->select_queue(0);
    p_->set_queue_size(64);
    EXPECT_TRUE(p_->status() & kNeedsReset);
    ASSERT_NO_FATAL_FAILURE(serves_again(0x1500));
}

}  // namespace
}  // namespace xenvhost::component
