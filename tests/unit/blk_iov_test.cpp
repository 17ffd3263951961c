// iovec slicing and the transfer cursor used to continue short reads/writes.

#include "devices/blk/blk_iov.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace blk = xenvhost::devices::blk;

namespace {
uint8_t buf[64];
iovec at(size_t off, size_t len) { return {buf + off, len}; }
}  // namespace

TEST(BlkIov, SliceAcrossPieces) {
    std::vector<iovec> src{at(0, 10), at(10, 0), at(10, 6), at(16, 20)};
    std::vector<iovec> out;
    EXPECT_EQ(blk::append_iovec_slice(src, 8, 12, out), 12u);
    ASSERT_EQ(out.size(), 3u);  // the empty piece is dropped
    EXPECT_EQ(out[0].iov_base, buf + 8);
    EXPECT_EQ(out[0].iov_len, 2u);
    EXPECT_EQ(out[1].iov_base, buf + 10);
    EXPECT_EQ(out[1].iov_len, 6u);
    EXPECT_EQ(out[2].iov_base, buf + 16);
    EXPECT_EQ(out[2].iov_len, 4u);
}

TEST(BlkIov, SliceShorterThanAsked) {
    std::vector<iovec> src{at(0, 10)};
    std::vector<iovec> out;
    EXPECT_EQ(blk::append_iovec_slice(src, 4, 100, out), 6u);
    EXPECT_EQ(blk::append_iovec_slice(src, 10, 1, out), 0u);
    EXPECT_EQ(blk::append_iovec_slice(src, 50, 1, out), 0u);
    EXPECT_EQ(out.size(), 1u);
}

TEST(BlkIov, CursorAdvancesInsideAndAcrossPieces) {
    blk::IovCursor c;
    auto& v = c.reset();
    v = {at(0, 8), at(8, 8), at(16, 8)};
    EXPECT_EQ(c.remaining().size(), 3u);
    EXPECT_TRUE(c.advance(3));
    EXPECT_EQ(c.remaining()[0].iov_base, buf + 3);
    EXPECT_EQ(c.remaining()[0].iov_len, 5u);
    EXPECT_TRUE(c.advance(5));  // exactly the end of the first piece
    ASSERT_EQ(c.remaining().size(), 2u);
    EXPECT_EQ(c.remaining()[0].iov_base, buf + 8);
    EXPECT_TRUE(c.advance(12));
    ASSERT_EQ(c.remaining().size(), 1u);
    EXPECT_EQ(c.remaining()[0].iov_base, buf + 20);
    EXPECT_EQ(c.remaining()[0].iov_len, 4u);
    EXPECT_FALSE(c.done());
    EXPECT_TRUE(c.advance(4));
    EXPECT_TRUE(c.done());
    EXPECT_TRUE(c.advance(0));
    EXPECT_FALSE(c.advance(1));
}

TEST(BlkIov, CursorRefusesMoreThanRemains) {
    blk::IovCursor c;
    c.reset() = {at(0, 4), at(4, 4)};
    EXPECT_FALSE(c.advance(9));
}

TEST(BlkIov, CursorSkipsEmptyPieces) {
    blk::IovCursor c;
    c.reset() = {at(0, 4), at(4, 0), at(4, 0), at(4, 4)};
    EXPECT_TRUE(c.advance(4));
    ASSERT_EQ(c.remaining().size(), 1u);
    EXPECT_EQ(c.remaining()[0].iov_len, 4u);
}

TEST(BlkIov, ResetRewinds) {
    blk::IovCursor c;
    c.reset() = {at(0, 4)};
    EXPECT_TRUE(c.advance(4));
    EXPECT_TRUE(c.done());
    c.reset().push_back(at(0, 2));
    EXPECT_EQ(c.remaining().size(), 1u);
}
