// The worker dies under the front-end: it is SIGKILLed with requests in
// flight and restarted on the same socket (as the supervisor does). The
// front-end reconnects on its own, hands over the same inflight area and
// eventfds, and the guest sees every request complete, correctly, once.
#include "frontend_fixture.hpp"

#include "virtio/ring_layout.hpp"

#include <map>

namespace xenvhost::component {
namespace {

using vhost_user::bit;
using FrontendReconnectTest = FrontendTest;

uint64_t driver_features(uint64_t offered) { return offered & (bit(virtio::kFVersion1) | ((1ull << 24) - 1)); }

TEST_F(FrontendReconnectTest, WorkerKilledWithRequestsInFlight) {
    start_worker();
    ASSERT_OK_AND_ASSIGN(dev_, make_frontend(config()));
    ASSERT_OK(dev_->set_features(driver_features(dev_->device_features())));
    ASSERT_OK(dev_->start(setup_guest(2)));
    verified_io(0, 50, 4096, 1);  // the rings have run: the inflight area holds them
    for (int round = 0; round < 2; ++round) {
        std::map<uint64_t, std::vector<uint8_t>> written;
        for (unsigned i = 0; i < 32; ++i) {
            const uint64_t sector = 4000 + round * 8192 + i * 128;
            written[sector] = random_bytes(sector, 32 * 1024);
            submit(i % 2, BlkCommand::out(sector, written[sector]));
        }
        kill_worker();
        start_worker();  // same socket, image and guest
        size_t done = 0;
        for (unsigned q = 0; q < 2; ++q) {
            auto cs = complete(q, 16, 20000);
            EXPECT_EQ(cs.size(), 16u) << "round " << round << " queue " << q << ": requests lost";
            for (const auto& c : cs) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK);
            done += cs.size();
        }
        ASSERT_EQ(done, 32u);
        EXPECT_TRUE(dev_->connected());
        for (const auto& [sector, data] : written)
            EXPECT_EQ(first_difference(image_bytes(sector * kSectorSize, data.size()), data), -1) << "sector " << sector;
    }
    // Nothing completes twice: the driver would have caught an unknown head,
    // and both queues keep working.
    verified_io(0, 30000, 8192, 2);
    verified_io(1, 30100, 8192, 3);
    EXPECT_EQ(sink_.broken, 0u);
}

TEST_F(FrontendReconnectTest, KilledWhileIdleThenUsed) {
    start_worker();
    ASSERT_OK_AND_ASSIGN(dev_, make_frontend(config()));
    ASSERT_OK(dev_->set_features(driver_features(dev_->device_features())));
    ASSERT_OK(dev_->start(setup_guest(1)));
    verified_io(0, 60, 4096, 4);
    kill_worker();
    ASSERT_TRUE(pump_until([&] { return !dev_->connected(); })) << "the loss went unnoticed";
    start_worker();
    ASSERT_TRUE(pump_until([&] { return dev_->connected(); })) << "did not reconnect";
    verified_io(0, 70, 16384, 5);
    EXPECT_EQ(sink_.broken, 0u);
}

TEST_F(FrontendReconnectTest, BackendThatNeverComesBackBreaksTheDevice) {
    start_worker();
    auto cfg = config();
    cfg.reconnect.give_up_after = std::chrono::milliseconds(300);
    ASSERT_OK_AND_ASSIGN(dev_, make_frontend(cfg));
    ASSERT_OK(dev_->set_features(driver_features(dev_->device_features())));
    ASSERT_OK(dev_->start(setup_guest(1)));
    kill_worker();
    ASSERT_TRUE(pump_until([&] { return sink_.broken > 0; })) << "device_broken never came";
    EXPECT_TRUE(dev_->broken());
    EXPECT_FALSE(dev_->start(setup_guest(1)).has_value());
    // The driver resets; once the back-end is there again the device works.
    start_worker();
    dev_->reset();
    ASSERT_TRUE(pump_until([&] { return dev_->connected(); })) << "did not reconnect after the reset";
    ASSERT_OK(dev_->set_features(driver_features(dev_->device_features())));
    ASSERT_OK(dev_->start(setup_guest(1)));
    verified_io(0, 80, 4096, 6);
}

}  // namespace
}  // namespace xenvhost::component
