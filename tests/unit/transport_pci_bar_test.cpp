// virtio-pci's BAR as a guest may program it: sizing, moving, disabling,
// placing it on RAM or on another device, and high-half games.

#include "transport/virtio_pci.hpp"
#include "transport_doubles.hpp"

#include <gtest/gtest.h>

using namespace xenvhost;
using namespace xenvhost::transport;
using namespace xenvhost::transport::test;

namespace {

struct BarGuest {
    RecordingPlatform platform;
    RecordingDevice device;
    std::unique_ptr<VirtioPci> pci;

    BarGuest() {
        auto p = VirtioPci::create(platform, device, PciAddress{1, 2, 3, 4});
        if (p) pci = std::move(*p);
    }
    uint64_t cfg(uint64_t off, uint8_t size = 4) { return pci->access({AccessKind::kPciConfig, off, size, false, 0}); }
    void set(uint64_t off, uint64_t v, uint8_t size = 4) { pci->access({AccessKind::kPciConfig, off, size, true, v}); }
    void bar(uint64_t base) {
        set(0x10, base & 0xffffffff);
        set(0x14, base >> 32);
    }
    void decode(bool on) { set(0x04, on ? 0x6 : 0x4, 2); }
    // num_queues through the BAR at `base`
    uint64_t num_queues_at(uint64_t base) { return pci->access({AccessKind::kMmio, base + 0x12, 2, false, 0}); }
};

TEST(TransportPciBar, SizingReadsTheMaskInBothHalves) {
    BarGuest g;
    ASSERT_TRUE(g.pci);
    EXPECT_EQ(g.pci->describe(), "pci 0001:02:03.4 intx A");
    EXPECT_EQ(g.cfg(0x10), 0x4u);
    g.set(0x10, 0xffffffff);
    g.set(0x14, 0xffffffff);
    EXPECT_EQ(g.cfg(0x10), 0xffff8004u);  // 32 KiB
    EXPECT_EQ(g.cfg(0x14), 0xffffffffu);
    for (uint64_t r = 0x18; r < 0x28; r += 4) {  // the other BARs are not implemented
        g.set(r, 0xffffffff);
        EXPECT_EQ(g.cfg(r), 0u);
    }
    g.decode(true);  // all ones is a sizing value, not a placement
    EXPECT_TRUE(g.platform.claimed.empty());
}

TEST(TransportPciBar, MovingAndDisablingReleasesTheOldRange) {
    BarGuest g;
    g.bar(0xfe000000);
    EXPECT_TRUE(g.platform.claimed.empty());  // decoding off
    g.decode(true);
    EXPECT_EQ(g.platform.claimed, (std::vector<Range>{{0xfe000000, 0xfe007fff}}));
    EXPECT_EQ(g.num_queues_at(0xfe000000), 2u);
    g.bar(0xfd000000);
    EXPECT_EQ(g.platform.claimed, (std::vector<Range>{{0xfd000000, 0xfd007fff}}));
    EXPECT_EQ(g.num_queues_at(0xfe000000), 0xffffu);  // the old place decodes no more
    EXPECT_EQ(g.num_queues_at(0xfd000000), 2u);
    g.decode(false);
    EXPECT_TRUE(g.platform.claimed.empty());
    EXPECT_EQ(g.num_queues_at(0xfd000000), 0xffffu);
    g.decode(true);
    g.pci.reset();
    EXPECT_TRUE(g.platform.claimed.empty());
}

TEST(TransportPciBar, OnRamOrOnAnotherDeviceIsNotDecoded) {
    BarGuest g;
    g.platform.other_devices.push_back({0xfe002000, 0xfe002fff});
    g.decode(true);
    g.bar(0x10000000);  // RAM
    EXPECT_TRUE(g.platform.claimed.empty());
    EXPECT_EQ(g.num_queues_at(0x10000000), 0xffffu);
    g.bar(0xfe000000);  // overlaps the other device
    EXPECT_TRUE(g.platform.claimed.empty());
    g.bar(0xfe008000);  // clear of both
    EXPECT_EQ(g.platform.claimed, (std::vector<Range>{{0xfe008000, 0xfe00ffff}}));
    g.bar(0x10000000);  // moved back onto RAM: the good range is released
    EXPECT_TRUE(g.platform.claimed.empty());
    EXPECT_EQ(g.cfg(0x10), 0x10000004u);  // the register still holds what was written
}

TEST(TransportPciBar, HighHalfGames) {
    BarGuest g;
    g.decode(true);
    g.set(0x14, 0x12);  // high half first: low is still 0, a placement at 0x12_00000000
    EXPECT_EQ(g.platform.claimed, (std::vector<Range>{{0x1200000000, 0x1200007fff}}));
    g.set(0x10, 0xfe000000);
    EXPECT_EQ(g.platform.claimed, (std::vector<Range>{{0x12fe000000, 0x12fe007fff}}));
    g.set(0x14, 0xffffffff);
    g.set(0x10, 0xffff8000);  // the top of the address space: not a placement
    EXPECT_TRUE(g.platform.claimed.empty());
    g.set(0x16, 0x0000, 2);  // a 2-byte write into the high half
    EXPECT_EQ(g.cfg(0x14), 0x0000ffffu);
    EXPECT_EQ(g.platform.claimed, (std::vector<Range>{{0x0000ffffffff8000, 0x0000ffffffffffff}}));
    g.set(0x12, 0xdead, 2);
    EXPECT_EQ(g.cfg(0x10), 0xdead8004u);
    g.set(0x10, 0x1234567f, 1);  // bits below the size stay 0
    EXPECT_EQ(g.cfg(0x10), 0xdead8004u);
    g.set(0x10, 0, 8);  // both halves at once
    EXPECT_EQ(g.cfg(0x14), 0u);
    EXPECT_TRUE(g.platform.claimed.empty());
}

TEST(TransportPciBar, AccessesAcrossRegionsOrPastTheBarAreRefused) {
    BarGuest g;
    g.bar(0xfe000000);
    g.decode(true);
    auto read = [&](uint64_t off, uint8_t size) {
        return g.pci->access({AccessKind::kMmio, 0xfe000000 + off, size, false, 0});
    };
    EXPECT_EQ(read(0x0ffe, 4), 0xffffffffu);  // common into ISR
    EXPECT_EQ(read(0x3ffe, 4), 0xffffffffu);  // notify into the MSI-X table
    EXPECT_EQ(read(0x6000, 4), 0xffffffffu);  // the unused pages after the PBA
    EXPECT_EQ(read(0x7ffe, 4), 0xffffffffu);  // past the BAR
    EXPECT_EQ(read(0x8000, 1), 0xffu);
    EXPECT_EQ(read(0x1001, 1), 0xffu);  // ISR is one byte
    EXPECT_EQ(read(0x3000, 2), 0u);     // notify reads 0
    EXPECT_EQ(g.pci->access({AccessKind::kMmio, 0xfe000000, 5, false, 0}), 0xffffffffffu);
    EXPECT_EQ(g.pci->access({AccessKind::kMmio, 0xfe000000, 0, false, 0}), 0u);
    EXPECT_EQ(g.pci->access({AccessKind::kMmio, 0xfe000000, 200, false, 0}), ~uint64_t{0});
}

}  // namespace
