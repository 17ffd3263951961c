// xenvhost-dm with `regions=grant`: a guest that uses grant DMA (ring and
// buffer addresses are grant addresses, 1<<63 | gref<<12) on virtio-pci and
// virtio-mmio. The device offers VIRTIO_F_ACCESS_PLATFORM (a foreign-mode
// device does not), I/O reaches the image through the worker's grant
// mappings of the pages the guest granted, a restarted worker gets the grant
// table again, and a guest's mistakes end as documented: rings at an
// address that is not a grant address break the device (DEVICE_NEEDS_RESET),
// a buffer the back-end may not map fails that request with IOERR and the
// queue goes on.
#include "dm_fixture.hpp"
#include "dm_grant_guest.hpp"

#include "frontend/clock.hpp"

#include <unistd.h>

namespace xenvhost::component {
namespace {

using namespace vstatus;
namespace xd = xendouble;
constexpr uint64_t kAccessPlatform = bit(33);
constexpr uint64_t kMmioBase = 0xfe000000;
constexpr unsigned kMmioIrq = 5;
constexpr uint8_t kRunning = kAcknowledge | kDriver | kFeaturesOk | kDriverOk;

class DmGrant : public DmTest {
protected:
    std::vector<DmDeviceSpec> devices() const override {
        DmDeviceSpec pci;
        pci.regions = "grant";
        DmDeviceSpec mmio;
        mmio.name = "mmio-disk";
        mmio.mmio = true;
        mmio.base = kMmioBase;
        mmio.irq = kMmioIrq;
        mmio.regions = "grant";
        return {pci, mmio};
    }
    std::unique_ptr<GrantBlkGuest> grant_driver(GuestTransport& t, bool expect_unmapped = true) {
        return std::make_unique<GrantBlkGuest>(t, mem_, *files_, kRingRegion, expect_unmapped);
    }
    // Writes in flight together, checked in the image, then their reads.
    void verified_batch(GrantBlkGuest& g, size_t dev, const std::vector<std::pair<uint64_t, uint32_t>>& requests,
                        uint64_t seed) {
        std::vector<std::vector<uint8_t>> data;
        std::vector<BlkCommand> writes, reads;
        for (size_t i = 0; i < requests.size(); ++i) {
            data.push_back(random_bytes(seed + i, requests[i].second));
            writes.push_back(BlkCommand::out(requests[i].first, data.back()));
            writes.back().tag = i;
            reads.push_back(BlkCommand::in(requests[i].first, requests[i].second));
            reads.back().tag = i;
        }
        ASSERT_OK(g.submit(writes));
        ASSERT_OK_AND_ASSIGN(auto written, g.collect(writes.size()));
        for (const auto& c : written) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK) << "write " << c.tag;
        for (size_t i = 0; i < requests.size(); ++i)
            EXPECT_EQ(first_difference(image_bytes(dev, requests[i].first * kSectorSize, requests[i].second), data[i]),
                      -1)
                << "image differs after write " << i;
        ASSERT_OK(g.submit(reads));
        ASSERT_OK_AND_ASSIGN(auto read, g.collect(reads.size()));
        for (const auto& c : read) {
            EXPECT_EQ(c.status, VIRTIO_BLK_S_OK) << "read " << c.tag;
            ASSERT_OK_AND_ASSIGN(auto back, g.blk().data(c));
            EXPECT_EQ(first_difference(back, data.at(c.tag)), -1) << "read-back " << c.tag << " differs";
        }
    }
    size_t reconnects() const {
        const std::string log = dm_->log();
        size_t n = 0;
        for (size_t at = log.find(" is back"); at != std::string::npos; at = log.find(" is back", at + 1)) ++n;
        return n;
    }
};

TEST_F(DmGrant, PciOffersAccessPlatformAndServesThroughGrants) {
    auto p = pci_device(0, kBarAddress);
    EXPECT_TRUE(p->device_features() & kAccessPlatform) << "grant addresses are not guest-physical";
    auto g = grant_driver(*p);
    ASSERT_OK(g->bring_up());
    EXPECT_TRUE(g->features() & kAccessPlatform) << std::hex << g->features();
    const auto before = files_->counters();
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{0, 512}, {8, 4096}, {100, 65536}, {30000, 12288}}, 0x6a00));
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{kImageSize / 512 - 8, 4096}}, 0x6a10));
    const auto used = files_->counters() - before;
    // The worker's default (--grant-access auto) copies these requests; a
    // larger one would be mapped: either way through grants.
    EXPECT_GT(used[xd::kGrantMapCalls] + used[xd::kGrantCopyCalls], 0u) << used.describe();
    EXPECT_EQ(used[xd::kForeignMapCalls], 0u) << "grant mode mapped guest frames: " << used.describe();
    EXPECT_EQ(used[xd::kFailures], 0u) << used.describe();
    EXPECT_EQ(p->status(), kRunning);
}

TEST_F(DmGrant, MmioServesThroughGrants) {
    auto m = mmio_device(1);
    auto g = grant_driver(*m);
    ASSERT_OK(g->bring_up());
    EXPECT_TRUE(g->features() & kAccessPlatform) << std::hex << g->features();
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 1, {{16, 4096}, {4096, 65536}}, 0x6b00));
    EXPECT_EQ(m->status(), kRunning);
}

TEST_F(DmGrant, RingsAtAGuestPhysicalAddressBreakTheDevice) {
    auto p = pci_device(0, kBarAddress);
    auto g = grant_driver(*p);
    for (uint64_t at : {uint64_t{kHighStart}, uint64_t{kGuestBytes}, grant_gpa(0) + (uint64_t{1} << 40)}) {
        BringUp bad;
        bad.rings_at = at;  // RAM, past RAM, past the grant space
        EXPECT_FALSE(g->bring_up(bad).has_value()) << std::hex << at;
        EXPECT_TRUE(g->last_status() & kNeedsReset) << std::hex << at << ": status " << unsigned{g->last_status()};
        ASSERT_TRUE(dm_->alive()) << "xenvhost-dm died";
    }
    // After a reset the same device probes and serves.
    ASSERT_OK(g->bring_up());
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{64, 4096}}, 0x6c00));
}

TEST_F(DmGrant, BufferTheBackendMayNotMapFailsThatRequestOnly) {
    auto p = pci_device(0, kBarAddress);
    auto g = grant_driver(*p);
    ASSERT_OK(g->bring_up());
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{0, 4096}, {8, 4096}, {16, 4096}}, 0x6d00));
    const std::vector<BlkCommand> reads{BlkCommand::in(0, 4096), BlkCommand::in(8, 4096), BlkCommand::in(16, 4096),
                                        BlkCommand::in(24, 4096)};
    ASSERT_OK(g->queue(reads));
    // Slots are taken in order: the second read's data page is not granted,
    // the fourth's is granted read-only though the device must write it.
    const auto second = g->blk().slot_pages(1), fourth = g->blk().slot_pages(3);
    files_->set_grants(second.data_gpa, 4096, xd::kNotGranted);
    files_->set_grants(fourth.data_gpa, 4096, xd::kGrantedReadOnly);
    g->publish();
    ASSERT_OK_AND_ASSIGN(auto done, g->collect(reads.size()));
    ASSERT_EQ(done.size(), reads.size());
    for (const auto& c : done) {
        const bool refused = c.slot == 1 || c.slot == 3;
        EXPECT_EQ(c.status, refused ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK) << "slot " << c.slot;
    }
    EXPECT_EQ(p->status(), kRunning) << "a mapping failure is no reason to break";
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{32, 4096}, {200, 65536}}, 0x6d10));
}

TEST_F(DmGrant, WorkerKilledAndRestartedGetsTheGrantTableAgain) {
    auto p = pci_device(0, kBarAddress);
    // A SIGKILLed worker never unmaps: its mappings stay counted in the double.
    auto g = grant_driver(*p, false);
    ASSERT_OK(g->bring_up());
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{0, 4096}}, 0x6e00));
    constexpr unsigned kRequests = 16;
    std::vector<std::vector<uint8_t>> data;
    std::vector<BlkCommand> writes;
    for (unsigned i = 0; i < kRequests; ++i) {
        data.push_back(random_bytes(0x6e10 + i, 65536));
        writes.push_back(BlkCommand::out(2048 + i * 128ull, data.back()));
        writes.back().tag = i;
    }
    ASSERT_OK(g->submit(writes));
    ASSERT_NO_FATAL_FAILURE(kill_worker(0));
    ASSERT_NO_FATAL_FAILURE(start_worker(0));
    const int64_t deadline = frontend::now_ms() + 15000;
    while (reconnects() < 1 && frontend::now_ms() < deadline) ::usleep(5000);
    ASSERT_EQ(reconnects(), 1u) << "the front-end did not reconnect";
    ASSERT_OK_AND_ASSIGN(auto written, g->collect(kRequests, 30000));
    ASSERT_EQ(written.size(), kRequests);
    for (const auto& c : written) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK) << "write " << c.tag;
    for (unsigned i = 0; i < kRequests; ++i)
        EXPECT_EQ(first_difference(image_bytes(0, (2048 + i * 128ull) * 512, 65536), data[i]), -1) << "write " << i;
    EXPECT_EQ(p->status(), kRunning);
    const auto before = files_->counters();
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{7, 4096}, {9000, 65536}}, 0x6e40));
    EXPECT_EQ((files_->counters() - before)[xd::kForeignMapCalls], 0u) << "the new worker maps guest frames";
}

// The same device model's default (foreign) device: guest-physical
// addresses, so no ACCESS_PLATFORM for the driver to accept.
class DmForeignFeatures : public DmTest {};

TEST_F(DmForeignFeatures, ForeignDeviceDoesNotOfferAccessPlatform) {
    auto p = pci_device(0, kBarAddress);
    EXPECT_FALSE(p->device_features() & kAccessPlatform) << std::hex << p->device_features();
    auto g = driver(*p);
    ASSERT_OK(g->bring_up());
    EXPECT_FALSE(g->features() & kAccessPlatform);
}

}  // namespace
}  // namespace xenvhost::component
