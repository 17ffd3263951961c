#include "ring_fixture.hpp"
#include "virtio/split_ring.hpp"

#include <gtest/gtest.h>

using namespace xenvhost;
using namespace xenvhost::virtio;
using xenvhost::testing::GuestRam;

namespace {
constexpr uint16_t kSize = 8;
constexpr RingAddresses kAddrs{0x1000, 0x2000, 0x3000};

uint16_t& avail_idx(GuestRam& r) { return r.as<Avail>(kAddrs.avail)->idx; }
uint16_t& avail_entry(GuestRam& r, uint16_t i) { return r.as<Avail>(kAddrs.avail)->ring[i]; }
uint16_t& used_event(GuestRam& r) { return r.as<Avail>(kAddrs.avail)->ring[kSize]; }
Used* used(GuestRam& r) { return r.as<Used>(kAddrs.used); }
uint16_t avail_event(GuestRam& r) {
    uint16_t v;
    std::memcpy(&v, r.at(kAddrs.used + 4 + 8 * kSize), sizeof v);
    return v;
}
}  // namespace

TEST(SplitRing, ValidatesSizeAndAlignment) {
    GuestRam ram;
    EXPECT_FALSE(SplitRing::map(ram.mem(), 0, kAddrs, false, 0));
    EXPECT_FALSE(SplitRing::map(ram.mem(), 6, kAddrs, false, 0));
    EXPECT_FALSE(SplitRing::map(ram.mem(), 8, {0x1008, 0x2000, 0x3000}, false, 0));
    EXPECT_FALSE(SplitRing::map(ram.mem(), 8, {0x1000, 0x2001, 0x3000}, false, 0));
    EXPECT_FALSE(SplitRing::map(ram.mem(), 8, {0x1000, 0x2000, 0x3002}, false, 0));
    EXPECT_FALSE(SplitRing::map(ram.mem(), 8, {0x1000, 0x2000, (1 << 20) - 16}, false, 0));
    EXPECT_TRUE(SplitRing::map(ram.mem(), 8, kAddrs, false, 0));
    EXPECT_FALSE(valid_queue_size(65536));
    EXPECT_TRUE(valid_queue_size(32768));
}

TEST(SplitRing, PopsAndPublishesInBatches) {
    GuestRam ram;
    auto ring = SplitRing::map(ram.mem(), kSize, kAddrs, false, 0);
    ASSERT_TRUE(ring);
    EXPECT_EQ(*ring->available(), 0);
    avail_entry(ram, 0) = 5;
    avail_entry(ram, 1) = 2;
    avail_idx(ram) = 2;
    EXPECT_EQ(*ring->available(), 2);
    EXPECT_EQ(ring->pop(), 5);
    EXPECT_EQ(ring->pop(), 2);
    ring->push_used(2, 100);
    ring->push_used(5, 1);
    EXPECT_EQ(used(ram)->idx, 0);  // nothing visible before publish
    EXPECT_TRUE(ring->publish());
    EXPECT_EQ(used(ram)->idx, 2);
    EXPECT_EQ(used(ram)->ring[0].id, 2u);
    EXPECT_EQ(used(ram)->ring[1].len, 1u);
    EXPECT_FALSE(ring->publish());  // empty batch
}

TEST(SplitRing, FullRingIsProcessedAndJumpsAreRejected) {
    GuestRam ram;
    auto ring = SplitRing::map(ram.mem(), kSize, kAddrs, false, 0);
    avail_idx(ram) = kSize;  // a full ring: count == size must be processed
    EXPECT_EQ(*ring->available(), kSize);
    avail_idx(ram) = kSize + 1;
    EXPECT_FALSE(ring->available());
}

TEST(SplitRing, IndicesWrapAround) {
    GuestRam ram;
    used(ram)->idx = 65534;
    auto ring = SplitRing::map(ram.mem(), kSize, kAddrs, false, 65534);
    ASSERT_TRUE(ring);
    avail_idx(ram) = 1;  // 65534 -> 1 is three entries
    EXPECT_EQ(*ring->available(), 3);
    for (int i = 0; i < 3; ++i) ring->push_used(ring->pop(), 0);
    ring->publish();
    EXPECT_EQ(used(ram)->idx, 1);
}

TEST(SplitRing, EventIdxDecidesNotifications) {
    GuestRam ram;
    auto ring = SplitRing::map(ram.mem(), kSize, kAddrs, true, 0);
    avail_idx(ram) = 3;
    used_event(ram) = 1;  // driver wants a call once used idx passes 1
    ring->push_used(ring->pop(), 0);
    EXPECT_FALSE(ring->publish());  // used 0 -> 1: event 1 not yet crossed
    ring->push_used(ring->pop(), 0);
    EXPECT_TRUE(ring->publish());  // 1 -> 2 crosses it
    EXPECT_FALSE(ring->arm_kick() && false);
    EXPECT_EQ(avail_event(ram), 2);
    EXPECT_TRUE(ring->arm_kick());  // one entry still waiting
}

TEST(SplitRing, NoInterruptFlagWithoutEventIdx) {
    GuestRam ram;
    auto ring = SplitRing::map(ram.mem(), kSize, kAddrs, false, 0);
    ram.as<Avail>(kAddrs.avail)->flags = kAvailFNoInterrupt;
    avail_idx(ram) = 1;
    ring->push_used(ring->pop(), 0);
    EXPECT_FALSE(ring->publish());
}
