#include "virtio/inflight.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace xenvhost::virtio;

namespace {
constexpr uint16_t kSize = 8;
struct Area {
    std::vector<uint8_t> bytes = std::vector<uint8_t>(inflight_queue_stride(kSize), 0);
    uint8_t* data() { return bytes.data(); }
};
}  // namespace

TEST(Inflight, FreshAreaIsInitialised) {
    Area a;
    SplitInflight q(a.data(), kSize);
    EXPECT_FALSE(q.recover(5, 0x1234).has_value());
    auto* h = reinterpret_cast<InflightQueueHeader*>(a.data());
    EXPECT_EQ(h->version, 1);
    EXPECT_EQ(h->desc_num, kSize);
    EXPECT_EQ(h->used_idx, 5);
    EXPECT_EQ(inflight_queue_stride(kSize) % 64, 0u);
}

TEST(Inflight, RestartResubmitsInTheOrderTaken) {
    Area a;
    {
        SplitInflight q(a.data(), kSize);
        q.recover(0, 0);
        q.taken(3);
        q.taken(1);
        q.taken(6);
        q.used(1);  // 1 completes and is published
        q.published(1);
        // the back-end dies here with 3 and 6 in flight
    }
    SplitInflight again(a.data(), kSize);
    auto heads = again.recover(1, 0);
    ASSERT_TRUE(heads);
    EXPECT_EQ(*heads, (std::vector<uint16_t>{3, 6}));
}

TEST(Inflight, BatchPublishedButNotClearedIsRepaired) {
    Area a;
    {
        SplitInflight q(a.data(), kSize);
        q.recover(0, 0);
        q.taken(2);
        q.taken(4);
        q.used(2);
        q.used(4);
        // the used index reached the driver (2), but the back-end died before published()
    }
    SplitInflight again(a.data(), kSize);
    auto heads = again.recover(2, 0);
    ASSERT_TRUE(heads);
    EXPECT_TRUE(heads->empty());  // both were completed, nothing is resubmitted twice
}

TEST(Inflight, AreaOfAnotherRingSizeStartsClean) {
    Area a;
    {
        SplitInflight q(a.data(), kSize);
        q.recover(0, 0);
        q.taken(1);
    }
    SplitInflight smaller(a.data(), kSize / 2);
    EXPECT_FALSE(smaller.recover(0, 0).has_value());
}

TEST(InflightArea, ASmallerRingUsesItsQueuesPart) {
    InflightArea area;
    std::vector<uint8_t> bytes(inflight_queue_stride(128) * 2);
    area.base = bytes.data();
    area.num_queues = 2;
    area.queue_size = 128;
    EXPECT_EQ(area.queue(1, 64), bytes.data() + inflight_queue_stride(128));
    EXPECT_EQ(area.queue(1, 256), nullptr);
    EXPECT_EQ(area.queue(2, 64), nullptr);
}
