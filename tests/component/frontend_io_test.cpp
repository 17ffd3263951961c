// The device model's vhost-user front-end against the real worker serving a
// Xen guest through the mapping double: the test plays the guest's driver
// (and the transport) through the VirtioDevice interface and checks every
// byte against the image file.
#include "frontend_fixture.hpp"

#include "vhost_user/messages.hpp"
#include "virtio/ring_layout.hpp"

#include <linux/virtio_blk.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

namespace xenvhost::component {
namespace {

using vhost_user::bit;

uint64_t capacity(std::span<const uint8_t> config) {
    uint64_t c = 0;
    if (config.size() >= sizeof c) std::memcpy(&c, config.data(), sizeof c);
    return c;
}

// The features a plain driver accepts: VERSION_1 and the device's own bits.
uint64_t driver_features(uint64_t offered) { return offered & (bit(virtio::kFVersion1) | ((1ull << 24) - 1)); }

using FrontendIoTest = FrontendTest;

TEST_F(FrontendIoTest, OffersWhatTheGuestMayUse) {
    start_worker();
    ASSERT_OK_AND_ASSIGN(dev_, make_frontend(config()));
    EXPECT_EQ(dev_->device_id(), 2u);
    EXPECT_TRUE(dev_->device_features() & bit(virtio::kFVersion1));
    EXPECT_FALSE(dev_->device_features() & bit(vhost_user::kFeatureProtocolFeatures));
    // Foreign mode: addresses are guest-physical, so no ACCESS_PLATFORM.
    EXPECT_FALSE(dev_->device_features() & bit(virtio::kFAccessPlatform));
    EXPECT_EQ(dev_->num_queues(), 2u);
    EXPECT_EQ(dev_->config().size(), sizeof(virtio_blk_config));
    EXPECT_EQ(capacity(dev_->config()), (16ull << 20) / kSectorSize);
}

TEST_F(FrontendIoTest, TwoQueuesReadWrite) {
    start_worker();
    ASSERT_OK_AND_ASSIGN(dev_, make_frontend(config()));
    ASSERT_OK(dev_->set_features(driver_features(dev_->device_features())));
    auto queues = setup_guest(2);
    ASSERT_EQ(queues.size(), 2u);
    ASSERT_OK(dev_->start(queues));
    verified_io(0, 100, 4096, 1);
    verified_io(1, 200, 64 * 1024, 2);
    // Both queues busy at once.
    std::vector<std::vector<uint8_t>> written;
    for (unsigned i = 0; i < 16; ++i) {
        written.push_back(random_bytes(10 + i, 16384));
        submit(i % 2, BlkCommand::out(1000 + i * 64, written.back()));
    }
    for (unsigned q = 0; q < 2; ++q) {
        auto done = complete(q, 8);
        ASSERT_EQ(done.size(), 8u) << "queue " << q;
        for (const auto& c : done) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK);
    }
    for (unsigned i = 0; i < 16; ++i)
        EXPECT_EQ(first_difference(image_bytes((1000 + i * 64) * kSectorSize, 16384), written[i]), -1) << i;
    EXPECT_GT(sink_.queue_interrupts[0], 0u);
    EXPECT_GT(sink_.queue_interrupts[1], 0u);
    EXPECT_EQ(sink_.broken, 0u);
}

TEST_F(FrontendIoTest, ConfigChangeReachesTheDriver) {
    start_worker();
    ASSERT_OK_AND_ASSIGN(dev_, make_frontend(config()));
    const uint32_t generation = dev_->config_generation();
    // The image grows and the worker is told (SIGHUP): CONFIG_CHANGE_MSG.
    ASSERT_EQ(::truncate(image_.c_str(), 32ll << 20), 0);
    ASSERT_EQ(::kill(worker_->pid(), SIGHUP), 0);
    ASSERT_TRUE(pump_until([&] { return sink_.config_interrupts > 0; })) << "no config interrupt";
    EXPECT_NE(dev_->config_generation(), generation);
    EXPECT_EQ(capacity(dev_->config()), (32ull << 20) / kSectorSize);
}

TEST_F(FrontendIoTest, ConfigWriteGoesToTheBackend) {
    start_worker();
    ASSERT_OK_AND_ASSIGN(dev_, make_frontend(config()));
    const uint32_t wce = offsetof(virtio_blk_config, wce);
    for (uint8_t v : {uint8_t{0}, uint8_t{1}}) {
        dev_->write_config(wce, {&v, 1});
        EXPECT_EQ(dev_->config()[wce], v);
    }
    EXPECT_TRUE(dev_->connected());
}

TEST_F(FrontendIoTest, ResetThenRenegotiate) {
    start_worker();
    ASSERT_OK_AND_ASSIGN(dev_, make_frontend(config()));
    for (int round = 0; round < 3; ++round) {
        ASSERT_OK(dev_->set_features(driver_features(dev_->device_features())));
        auto queues = setup_guest(2, 64);
        ASSERT_OK(dev_->start(queues));
        verified_io(round % 2, 3000 + round * 128, 8192, 20 + round);
        dev_->reset();
    }
    // A reset in any state: twice, and before any feature.
    dev_->reset();
    EXPECT_FALSE(dev_->start(setup_guest(1)).has_value()) << "start without features must fail";
    EXPECT_TRUE(dev_->connected());
    EXPECT_EQ(sink_.broken, 0u);
}

}  // namespace
}  // namespace xenvhost::component
