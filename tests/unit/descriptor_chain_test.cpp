#include "ring_fixture.hpp"
#include "virtio/descriptor_chain.hpp"

#include <gtest/gtest.h>

using namespace xenvhost;
using namespace xenvhost::virtio;
using xenvhost::testing::GuestRam;

namespace {
constexpr uint64_t kTable = 0x1000;
constexpr uint64_t kIndirect = 0x4000;
constexpr uint16_t kSize = 8;

struct Walk {
    GuestRam ram;
    ChainWalker walker{kSize, true};
    DescriptorChain chain;
    std::expected<void, ChainError> run(uint16_t head) {
        return walker.walk(ram.as<Desc>(kTable), head, ram.mem(), chain);
    }
};
}  // namespace

TEST(ChainWalker, WalksADirectChain) {
    Walk w;
    w.ram.set_desc(kTable, 0, 0x10000, 16, kDescFNext, 3);
    w.ram.set_desc(kTable, 3, 0x20000, 4096, kDescFNext | kDescFWrite, 5);
    w.ram.set_desc(kTable, 5, 0x30000, 1, kDescFWrite);
    ASSERT_TRUE(w.run(0));
    ASSERT_EQ(w.chain.buffers.size(), 3u);
    EXPECT_EQ(w.chain.buffers[1].gpa, 0x20000u);
    EXPECT_TRUE(w.chain.buffers[2].writable);
    EXPECT_EQ(w.chain.readable_len, 16u);
    EXPECT_EQ(w.chain.writable_len, 4097u);
}

TEST(ChainWalker, RejectsBadIndicesAndLoops) {
    Walk w;
    EXPECT_EQ(w.run(kSize).error(), ChainError::kHeadOutOfRange);
    w.ram.set_desc(kTable, 0, 0x10000, 16, kDescFNext, kSize);
    EXPECT_EQ(w.run(0).error(), ChainError::kNextOutOfRange);
    w.ram.set_desc(kTable, 0, 0x10000, 16, kDescFNext, 1);
    w.ram.set_desc(kTable, 1, 0x10000, 16, kDescFNext, 0);  // A -> B -> A
    EXPECT_EQ(w.run(0).error(), ChainError::kTooLong);
    w.ram.set_desc(kTable, 2, 0x10000, 16, kDescFNext, 2);  // self loop
    EXPECT_EQ(w.run(2).error(), ChainError::kTooLong);
}

TEST(ChainWalker, RejectsReadableAfterWritableAndOverflow) {
    Walk w;
    w.ram.set_desc(kTable, 0, 0x10000, 16, kDescFNext | kDescFWrite, 1);
    w.ram.set_desc(kTable, 1, 0x10000, 16, 0);
    EXPECT_EQ(w.run(0).error(), ChainError::kReadableAfterWritable);
    w.ram.set_desc(kTable, 0, ~0ull - 4, 16, 0);
    EXPECT_EQ(w.run(0).error(), ChainError::kBufferOverflow);
}

TEST(ChainWalker, RejectsChainsOver4GiB) {
    Walk w;
    for (uint16_t i = 0; i < 3; ++i) w.ram.set_desc(kTable, i, 0x10000, 0x7fffffff, kDescFNext, i + 1);
    w.ram.set_desc(kTable, 3, 0x10000, 0x7fffffff, 0);
    EXPECT_EQ(w.run(0).error(), ChainError::kTotalTooLarge);
}

TEST(ChainWalker, SkipsZeroLengthDescriptors) {
    Walk w;
    w.ram.set_desc(kTable, 0, 0xdeadbeef000, 0, kDescFNext, 1);
    w.ram.set_desc(kTable, 1, 0x10000, 8, 0);
    ASSERT_TRUE(w.run(0));
    EXPECT_EQ(w.chain.buffers.size(), 1u);
}

TEST(ChainWalker, WalksIndirectTables) {
    Walk w;
    w.ram.set_desc(kTable, 0, kIndirect, 3 * 16, kDescFIndirect);
    w.ram.set_desc(kIndirect, 0, 0x10000, 16, kDescFNext, 2);
    w.ram.set_desc(kIndirect, 2, 0x20000, 512, kDescFNext | kDescFWrite, 1);
    w.ram.set_desc(kIndirect, 1, 0x30000, 1, kDescFWrite);
    ASSERT_TRUE(w.run(0));
    ASSERT_EQ(w.chain.buffers.size(), 3u);
    EXPECT_EQ(w.chain.buffers[2].gpa, 0x30000u);
}

TEST(ChainWalker, RejectsBadIndirectTables) {
    Walk w;
    w.ram.set_desc(kTable, 0, kIndirect, 20, kDescFIndirect);  // not a multiple of 16
    EXPECT_EQ(w.run(0).error(), ChainError::kIndirectBadLength);
    w.ram.set_desc(kTable, 0, kIndirect, 0, kDescFIndirect);
    EXPECT_EQ(w.run(0).error(), ChainError::kIndirectBadLength);
    w.ram.set_desc(kTable, 0, kIndirect, 16 * (kMaxIndirectEntries + 1), kDescFIndirect);
    EXPECT_EQ(w.run(0).error(), ChainError::kIndirectBadLength);
    w.ram.set_desc(kTable, 0, kIndirect, 32, kDescFIndirect | kDescFNext, 1);
    EXPECT_EQ(w.run(0).error(), ChainError::kIndirectWithNext);
    w.ram.set_desc(kTable, 0, (1 << 20) - 16, 32, kDescFIndirect);  // runs past guest memory
    EXPECT_EQ(w.run(0).error(), ChainError::kIndirectUnreadable);
    // nested
    w.ram.set_desc(kTable, 0, kIndirect, 32, kDescFIndirect);
    w.ram.set_desc(kIndirect, 0, kIndirect, 32, kDescFIndirect);
    EXPECT_EQ(w.run(0).error(), ChainError::kNestedIndirect);
    // loop inside the table
    w.ram.set_desc(kIndirect, 0, 0x10000, 8, kDescFNext, 1);
    w.ram.set_desc(kIndirect, 1, 0x10000, 8, kDescFNext, 0);
    EXPECT_EQ(w.run(0).error(), ChainError::kTooLong);
    // next beyond the table
    w.ram.set_desc(kIndirect, 1, 0x10000, 8, kDescFNext, 2);
    EXPECT_EQ(w.run(0).error(), ChainError::kNextOutOfRange);
    // an indirect descriptor in the middle of a direct chain
    w.ram.set_desc(kTable, 0, 0x10000, 8, kDescFNext, 1);
    w.ram.set_desc(kTable, 1, kIndirect, 32, kDescFIndirect | kDescFNext, 2);
    EXPECT_EQ(w.run(0).error(), ChainError::kIndirectWithNext);
}

TEST(ChainWalker, IndirectTablesMayBeLongerThanTheRing) {
    // Drivers size indirect tables by seg_max, which may exceed the ring size.
    Walk w;
    w.ram.set_desc(kTable, 0, kIndirect, 16 * 3 * kSize, kDescFIndirect);
    for (uint16_t i = 0; i < 3 * kSize; ++i)
        w.ram.set_desc(kIndirect, i, 0x10000 + i * 512, 512, i + 1 < 3 * kSize ? kDescFNext : kDescFWrite, i + 1);
    ASSERT_TRUE(w.run(0));
    EXPECT_EQ(w.chain.buffers.size(), 3u * kSize);
}

TEST(ChainWalker, DirectDescriptorsMayPrecedeAnIndirectOne) {
    Walk w;
    w.ram.set_desc(kTable, 0, 0x10000, 16, kDescFNext, 1);
    w.ram.set_desc(kTable, 1, kIndirect, 32, kDescFIndirect);
    w.ram.set_desc(kIndirect, 0, 0x20000, 512, kDescFNext | kDescFWrite, 1);
    w.ram.set_desc(kIndirect, 1, 0x30000, 1, kDescFWrite);
    ASSERT_TRUE(w.run(0));
    ASSERT_EQ(w.chain.buffers.size(), 3u);
    EXPECT_EQ(w.chain.buffers[0].gpa, 0x10000u);
    EXPECT_EQ(w.chain.buffers[2].gpa, 0x30000u);
}

TEST(ChainWalker, IndirectNotNegotiated) {
    GuestRam ram;
    ChainWalker walker{kSize, false};
    DescriptorChain chain;
    ram.set_desc(kTable, 0, kIndirect, 16, kDescFIndirect);
    EXPECT_EQ(walker.walk(ram.as<Desc>(kTable), 0, ram.mem(), chain).error(), ChainError::kIndirectNotAllowed);
}

TEST(ChainWalker, IndirectTableIsCopiedOnce) {
    // The walk must use its copy even if the guest rewrites the table afterwards.
    Walk w;
    w.ram.set_desc(kTable, 0, kIndirect, 16, kDescFIndirect);
    w.ram.set_desc(kIndirect, 0, 0x10000, 8, 0);
    ASSERT_TRUE(w.run(0));
    w.ram.set_desc(kIndirect, 0, 0x20000, 8, 0);
    EXPECT_EQ(w.chain.buffers[0].gpa, 0x10000u);
}
