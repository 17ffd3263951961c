// Two vCPUs of the guest at once: one reads the device's config and common
// registers in a loop while the other does I/O; then invalidates (a
// mapcache flush Xen sends to every server) on both.
#include "dm_fixture.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace xenvhost::component {
namespace {

namespace xd = xendouble;
class DmVcpus : public DmTest {};

TEST_F(DmVcpus, ConfigReadsOnOneVcpuWhileTheOtherDoesIo) {
    auto p0 = pci_device(0, kBarAddress);
    auto g = driver(*p0);
    ASSERT_OK(g->bring_up());
    // vCPU 1 has its own view of the same function (no selector writes:
    // only what a config read touches, so vCPU 0's queue setup stays).
    PciGuest p1(*guest_, 16);
    p1.vcpu = 1;
    p1.walk_capabilities();
    std::atomic<bool> stop{false};
    std::atomic<unsigned> reads{0};
    std::string error;
    std::thread reader([&] {
        try {
            while (!stop.load()) {
                const uint64_t cap = p1.config_read(0, 4);  // PCI IDs through config cycles
                if (cap != 0x10421af4u) throw GuestHang(fmt::format("vendor/device {:#x}", cap));
                const uint64_t lo = mmio_read(*guest_, kBarAddress + p1.caps().device, 4, 1);
                const uint64_t hi = mmio_read(*guest_, kBarAddress + p1.caps().device + 4, 4, 1);
                if ((hi << 32 | lo) != kImageSize / 512) throw GuestHang(fmt::format("capacity {}", hi << 32 | lo));
                reads.fetch_add(1);
            }
        } catch (const std::exception& e) {
            error = e.what();
        }
    });
    // Stopped and joined however the I/O below ends.
    struct Join {
        std::atomic<bool>& stop;
        std::thread& t;
        void now() {
            stop = true;
            if (t.joinable()) t.join();
        }
        ~Join() { now(); }
    } join{stop, reader};
    for (int round = 0; round < 8 && error.empty(); ++round)
        ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{round * 256ull, 65536}, {round * 256ull + 200, 4096}},
                                               0x400 + round * 2));
    while (reads.load() == 0 && error.empty() && dm_->alive()) std::this_thread::yield();
    join.now();
    EXPECT_EQ(error, "");
    EXPECT_GT(reads.load(), 0u);
    const auto st = guest_->server();
    EXPECT_EQ(st.counter(xd::kGuestRequests), st.counter(xd::kIoreqsAnswered)) << st.describe();
}

TEST_F(DmVcpus, InvalidateIsAnsweredOnEveryVcpu) {
    const uint64_t before = guest_->server().counter(xd::kIoreqsAnswered);
    ASSERT_OK(guest_->invalidate(0));
    ASSERT_OK(guest_->invalidate(1));
    EXPECT_EQ(guest_->server().counter(xd::kIoreqsAnswered), before + 2);
    // And the device still answers on both.
    PciGuest p(*guest_, 16);
    EXPECT_EQ(p.config_read(0, 2), 0x1af4u);
    p.vcpu = 1;
    EXPECT_EQ(p.config_read(2, 2), 0x1042u);
    ASSERT_OK(guest_->invalidate(1));
    auto p0 = pci_device(0, kBarAddress);
    auto g = driver(*p0);
    ASSERT_OK(g->bring_up());
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{0, 4096}}, 0x500));
}

// Once the rings run, the back-end maps the guest's RAM: an invalidate
// (the guest gave memory back) makes the device model send the memory
// table again before it answers, and the rings go on in the new mapping.
TEST_F(DmVcpus, InvalidateMakesTheBackendMapAgain) {
    auto p0 = pci_device(0, kBarAddress);
    auto g = driver(*p0);
    ASSERT_OK(g->bring_up());
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{0, 4096}}, 0x600));
    ASSERT_OK(guest_->invalidate(0));
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{8, 8192}, {64, 4096}}, 0x601));
    ASSERT_OK(guest_->invalidate(1));
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{128, 4096}}, 0x602));
    ::kill(dm_->pid(), SIGUSR1);
    bool counted = false;
    for (int i = 0; i < 200 && !counted; ++i) {
        counted = dm_->log().find(", 2 remaps,") != std::string::npos;
        if (!counted) ::usleep(10000);
    }
    EXPECT_TRUE(counted) << logs();
    EXPECT_NE(dm_->log().find("gave memory back to Xen"), std::string::npos);
}

// The guest gives memory back while its driver's requests are in flight (a
// Linux guest does so once during boot, with its rings running): the memory
// table goes to the back-end again under load, and no completion or
// interrupt may be lost (a lost one leaves the guest's disk idle forever).
TEST_F(DmVcpus, InvalidatesWhileRequestsAreInFlight) {
    auto p0 = pci_device(0, kBarAddress);
    auto g = driver(*p0);
    ASSERT_OK(g->bring_up());
    std::atomic<bool> stop{false};
    std::atomic<unsigned> invalidates{0};
    std::atomic<bool> failed{false};
    std::string error;  // written before `failed`, read after the join
    std::thread flusher([&] {
        while (!stop.load()) {
            if (auto r = guest_->invalidate(1); !r) {
                error = r.error().message;
                failed = true;
                return;
            }
            invalidates.fetch_add(1);
        }
    });
    struct Join {  // stops and joins however the batches below end
        std::atomic<bool>& stop;
        std::thread& t;
        void now() {
            stop = true;
            if (t.joinable()) t.join();
        }
        ~Join() { now(); }
    } join{stop, flusher};
    for (int round = 0; round < 40 && !failed.load(); ++round) {
        std::vector<std::pair<uint64_t, uint32_t>> batch;
        for (int i = 0; i < 16; ++i) batch.emplace_back((round * 16 + i) * 32ull % (kImageSize / 512 - 32), 4096 * (1 + i % 3));
        ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, batch, 0x700 + round * 16));
    }
    join.now();  // `error` is settled once the thread is joined
    EXPECT_EQ(error, "");
    EXPECT_GT(invalidates.load(), 0u);
    RecordProperty("invalidates", static_cast<int>(invalidates.load()));
    std::printf("%u invalidates during 40 batches\n", invalidates.load());
}

}  // namespace
}  // namespace xenvhost::component
