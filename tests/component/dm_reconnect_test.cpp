// The worker SIGKILLed with requests in flight and restarted on the same
// socket, as xenvhostd restarts it: xenvhost-dm's front-end reconnects and
// every request completes with its data, no error status, no
// DEVICE_NEEDS_RESET, and the interrupt arrives.
#include "dm_fixture.hpp"

#include "frontend/clock.hpp"

#include <unistd.h>

namespace xenvhost::component {
namespace {

using namespace vstatus;
class DmReconnect : public DmTest {
protected:
    size_t reconnects() const {
        const std::string log = dm_->log();
        size_t n = 0;
        for (size_t at = log.find(" is back"); at != std::string::npos; at = log.find(" is back", at + 1)) ++n;
        return n;
    }
    // A restart the device model has not reached yet would fold into the
    // next one: the test waits (bounded) until it says it is back.
    void wait_reconnects(size_t n) {
        const int64_t deadline = frontend::now_ms() + 15000;
        while (reconnects() < n && frontend::now_ms() < deadline) ::usleep(5000);
        ASSERT_EQ(reconnects(), n) << "the front-end did not reconnect";
    }
};

TEST_F(DmReconnect, WorkerKilledWithRequestsInFlight) {
    auto p = pci_device(0, kBarAddress);
    auto g = driver(*p);
    ASSERT_OK(g->bring_up());
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{0, 4096}}, 0x700));

    constexpr unsigned kRequests = 16;
    std::vector<std::vector<uint8_t>> data;
    std::vector<BlkCommand> writes, reads;
    for (unsigned i = 0; i < kRequests; ++i) {
        const uint64_t sector = 1024 + i * 128ull;
        data.push_back(random_bytes(0x800 + i, 65536));
        writes.push_back(BlkCommand::out(sector, data.back()));
        writes.back().tag = i;
        reads.push_back(BlkCommand::in(sector, 65536));
        reads.back().tag = i;
    }
    ASSERT_OK(g->submit(writes));
    ASSERT_NO_FATAL_FAILURE(kill_worker(0));
    ASSERT_NO_FATAL_FAILURE(start_worker(0));
    ASSERT_NO_FATAL_FAILURE(wait_reconnects(1));
    ASSERT_OK_AND_ASSIGN(auto written, g->collect(kRequests, 30000));
    ASSERT_EQ(written.size(), kRequests);
    for (const auto& c : written) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK) << "write " << c.tag;
    for (unsigned i = 0; i < kRequests; ++i)
        EXPECT_EQ(first_difference(image_bytes(0, (1024 + i * 128ull) * 512, 65536), data[i]), -1) << "write " << i;

    // Reads in flight across a second crash.
    ASSERT_OK(g->submit(reads));
    ASSERT_NO_FATAL_FAILURE(kill_worker(0));
    ASSERT_NO_FATAL_FAILURE(start_worker(0));
    ASSERT_NO_FATAL_FAILURE(wait_reconnects(2));
    ASSERT_OK_AND_ASSIGN(auto read, g->collect(kRequests, 30000));
    ASSERT_EQ(read.size(), kRequests);
    for (const auto& c : read) {
        EXPECT_EQ(c.status, VIRTIO_BLK_S_OK) << "read " << c.tag;
        ASSERT_OK_AND_ASSIGN(auto back, g->blk().data(c));
        EXPECT_EQ(first_difference(back, data.at(c.tag)), -1) << "read " << c.tag;
    }
    EXPECT_EQ(g->interrupt_bits(), 0x1) << "a config interrupt: the guest was told something broke";
    EXPECT_EQ(p->status(), kAcknowledge | kDriver | kFeaturesOk | kDriverOk);
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{7, 4096}, {9000, 65536}}, 0x900));
}

}  // namespace
}  // namespace xenvhost::component
