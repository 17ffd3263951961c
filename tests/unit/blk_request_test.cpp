// The virtio-blk request parser: every refusal, ANY_LAYOUT headers, overflow.

#include "devices/blk/blk_request.hpp"

#include <gtest/gtest.h>
#include <linux/virtio_blk.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace blk = xenvhost::devices::blk;
using blk::BlkOp;

namespace {

constexpr uint64_t kCapacity = 2048;  // 1 MiB disk

blk::RequestLimits limits(bool read_only = false, uint32_t block_size = 512) {
    return {.capacity_sectors = kCapacity,
            .block_size = block_size,
            .read_only = read_only,
            .max_discard_sectors = 32768,
            .max_write_zeroes_sectors = 32768};
}

// A chain built from local buffers: the header (and segment) bytes are laid
// out in `outbuf` and cut into iovecs at the given split points.
struct Chain {
    std::vector<uint8_t> outbuf;
    std::vector<uint8_t> inbuf;
    std::vector<iovec> out;
    std::vector<iovec> in;

    static std::vector<uint8_t> header(uint32_t type, uint64_t sector) {
        virtio_blk_outhdr h{};
        h.type = type;
        h.sector = sector;
        std::vector<uint8_t> b(sizeof h);
        std::memcpy(b.data(), &h, sizeof h);
        return b;
    }
    static std::vector<uint8_t> segment(uint64_t sector, uint32_t count, uint32_t flags) {
        virtio_blk_discard_write_zeroes s{};
        s.sector = sector;
        s.num_sectors = count;
        s.flags = flags;
        std::vector<uint8_t> b(sizeof s);
        std::memcpy(b.data(), &s, sizeof s);
        return b;
    }
    // Out bytes, split into pieces of the given sizes (the rest in one last piece).
    void set_out(std::vector<uint8_t> bytes, std::vector<size_t> cuts = {}) {
        outbuf = std::move(bytes);
        out.clear();
        size_t pos = 0;
        for (size_t c : cuts) {
            out.push_back({outbuf.data() + pos, c});
            pos += c;
        }
        if (pos < outbuf.size()) out.push_back({outbuf.data() + pos, outbuf.size() - pos});
    }
    // In buffers of the given sizes (carved from one buffer).
    void set_in(std::vector<size_t> sizes) {
        size_t total = 0;
        for (size_t s : sizes) total += s;
        inbuf.assign(total + 1, 0xee);  // +1 so zero-sized pieces still have a valid base
        in.clear();
        size_t pos = 0;
        for (size_t s : sizes) {
            in.push_back({inbuf.data() + pos, s});
            pos += s;
        }
    }
    xenvhost::devices::Request req() const { return {out, in}; }
};

std::vector<uint8_t> cat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

blk::ParsedRequest parse(const Chain& c, const blk::RequestLimits& l = limits()) {
    std::vector<iovec> data;
    return blk::parse_request(c.req(), l, data);
}

blk::ParsedRequest parse(const Chain& c, std::vector<iovec>& data,
                         const blk::RequestLimits& l = limits()) {
    return blk::parse_request(c.req(), l, data);
}

void expect_refused(const blk::ParsedRequest& p, uint8_t status) {
    EXPECT_EQ(p.op, BlkOp::kComplete);
    EXPECT_EQ(p.status, status);
    EXPECT_NE(p.status_byte, nullptr);
    EXPECT_FALSE(p.error.empty());
}

Chain read_chain(uint64_t sector, size_t bytes) {
    Chain c;
    c.set_out(Chain::header(VIRTIO_BLK_T_IN, sector));
    c.set_in({bytes, 1});
    return c;
}

Chain write_chain(uint64_t sector, size_t bytes) {
    Chain c;
    c.set_out(cat(Chain::header(VIRTIO_BLK_T_OUT, sector), std::vector<uint8_t>(bytes, 0x5a)),
              {16});
    c.set_in({1});
    return c;
}

Chain segment_chain(uint32_t type, uint64_t sector, uint32_t count, uint32_t flags) {
    Chain c;
    c.set_out(cat(Chain::header(type, 0), Chain::segment(sector, count, flags)), {16});
    c.set_in({1});
    return c;
}

}  // namespace

// ---------------------------------------------------------------- reads

// A request whose buffers the worker could not map (a revoked grant): only
// its status byte is there, and the answer is IOERR whatever the header.
TEST(BlkRequest, UnmappedBuffersGetIoerr) {
    Chain c;
    c.set_in({1});
    xenvhost::devices::Request r{c.out, c.in, true};
    std::vector<iovec> data;
    auto p = blk::parse_request(r, limits(), data);
    expect_refused(p, VIRTIO_BLK_S_IOERR);
    EXPECT_EQ(p.status_byte, c.inbuf.data());
    EXPECT_TRUE(data.empty());
}


TEST(BlkRequest, ReadSeparateStatus) {
    Chain c = read_chain(8, 4096);
    std::vector<iovec> data;
    auto p = parse(c, data);
    EXPECT_EQ(p.op, BlkOp::kRead);
    EXPECT_TRUE(p.error.empty());
    EXPECT_EQ(p.offset, 8u * 512);
    EXPECT_EQ(p.length, 4096u);
    EXPECT_EQ(p.status_byte, c.inbuf.data() + 4096);
    ASSERT_EQ(data.size(), 1u);
    EXPECT_EQ(data[0].iov_base, c.inbuf.data());
    EXPECT_EQ(data[0].iov_len, 4096u);
}

TEST(BlkRequest, ReadStatusInSameBufferAsData) {
    Chain c;
    c.set_out(Chain::header(VIRTIO_BLK_T_IN, 0));
    c.set_in({1024 + 1});
    std::vector<iovec> data;
    auto p = parse(c, data);
    EXPECT_EQ(p.op, BlkOp::kRead);
    EXPECT_EQ(p.length, 1024u);
    EXPECT_EQ(p.status_byte, c.inbuf.data() + 1024);
    ASSERT_EQ(data.size(), 1u);
    EXPECT_EQ(data[0].iov_len, 1024u);
}

TEST(BlkRequest, ReadStatusSkipsTrailingEmptyBuffers) {
    Chain c;
    c.set_out(Chain::header(VIRTIO_BLK_T_IN, 0));
    c.set_in({0, 512, 1, 0, 0});
    std::vector<iovec> data;
    auto p = parse(c, data);
    EXPECT_EQ(p.op, BlkOp::kRead);
    EXPECT_EQ(p.status_byte, c.inbuf.data() + 512);
    ASSERT_EQ(data.size(), 1u);  // empty pieces dropped
    EXPECT_EQ(data[0].iov_len, 512u);
}

TEST(BlkRequest, ReadDataSplitAcrossManyBuffers) {
    Chain c;
    c.set_out(Chain::header(VIRTIO_BLK_T_IN, 0));
    c.set_in({100, 300, 112, 511, 1, 1});  // 1024 data bytes, then status
    std::vector<iovec> data;
    auto p = parse(c, data);
    EXPECT_EQ(p.op, BlkOp::kRead);
    EXPECT_EQ(p.length, 1024u);
    ASSERT_EQ(data.size(), 5u);
    size_t total = 0;
    for (auto& v : data) total += v.iov_len;
    EXPECT_EQ(total, 1024u);
    EXPECT_EQ(p.status_byte, c.inbuf.data() + 1024);
}

TEST(BlkRequest, ReadOnReadOnlyDiskIsAllowed) {
    EXPECT_EQ(parse(read_chain(0, 512), limits(true)).op, BlkOp::kRead);
}

TEST(BlkRequest, ReadOfNothingCompletesOk) {
    auto p = parse(read_chain(0, 0));
    EXPECT_EQ(p.op, BlkOp::kComplete);
    EXPECT_EQ(p.status, VIRTIO_BLK_S_OK);
    EXPECT_TRUE(p.error.empty());
}

TEST(BlkRequest, ReadLengthNotMultipleOf512) {
    expect_refused(parse(read_chain(0, 4095)), VIRTIO_BLK_S_IOERR);
    expect_refused(parse(read_chain(0, 1)), VIRTIO_BLK_S_IOERR);
}

TEST(BlkRequest, ReadTooLarge) {
    // The parser never touches data buffers, so a huge one need not exist.
    static uint8_t status;
    Chain c;
    c.set_out(Chain::header(VIRTIO_BLK_T_IN, 0));
    c.in = {{&status, size_t{1} << 31}, {&status, 1}};
    blk::RequestLimits l = limits();
    l.capacity_sectors = uint64_t{1} << 40;
    expect_refused(parse(c, l), VIRTIO_BLK_S_IOERR);
}

// ---------------------------------------------------------------- ranges

TEST(BlkRequest, RangeAtTheEndOfTheDisk) {
    EXPECT_EQ(parse(read_chain(kCapacity - 1, 512)).op, BlkOp::kRead);
    expect_refused(parse(read_chain(kCapacity - 1, 1024)), VIRTIO_BLK_S_IOERR);
    expect_refused(parse(read_chain(kCapacity, 512)), VIRTIO_BLK_S_IOERR);
    // An empty request exactly at the end is in range; one past it is not.
    EXPECT_EQ(parse(read_chain(kCapacity, 0)).status, VIRTIO_BLK_S_OK);
    expect_refused(parse(read_chain(kCapacity + 1, 0)), VIRTIO_BLK_S_IOERR);
}

TEST(BlkRequest, SectorOverflow) {
    constexpr uint64_t max = std::numeric_limits<uint64_t>::max();
    // sector + count wraps to a small number; sector * 512 wraps too.
    expect_refused(parse(read_chain(max, 512)), VIRTIO_BLK_S_IOERR);
    expect_refused(parse(read_chain(max - 1, 1024)), VIRTIO_BLK_S_IOERR);
    expect_refused(parse(read_chain(uint64_t{1} << 55, 512)), VIRTIO_BLK_S_IOERR);
    expect_refused(parse(read_chain(uint64_t{1} << 63, 0)), VIRTIO_BLK_S_IOERR);
    expect_refused(parse(write_chain(max, 512)), VIRTIO_BLK_S_IOERR);
    expect_refused(parse(segment_chain(VIRTIO_BLK_T_DISCARD, max - 7, 8, 0)), VIRTIO_BLK_S_IOERR);
    expect_refused(parse(segment_chain(VIRTIO_BLK_T_WRITE_ZEROES, max, 1, 0)), VIRTIO_BLK_S_IOERR);
}

TEST(BlkRequest, LargeBlockSizeAlignment) {
    auto l = limits(false, 4096);
    EXPECT_EQ(parse(read_chain(8, 4096), l).op, BlkOp::kRead);
    expect_refused(parse(read_chain(1, 4096), l), VIRTIO_BLK_S_IOERR);  // sector not aligned
    expect_refused(parse(read_chain(8, 512), l), VIRTIO_BLK_S_IOERR);   // length not aligned
    expect_refused(parse(write_chain(4, 4096), l), VIRTIO_BLK_S_IOERR);
    expect_refused(parse(segment_chain(VIRTIO_BLK_T_DISCARD, 8, 1, 0), l), VIRTIO_BLK_S_IOERR);
    EXPECT_EQ(parse(segment_chain(VIRTIO_BLK_T_DISCARD, 8, 8, 0), l).op, BlkOp::kDiscard);
}

// ---------------------------------------------------------------- writes

TEST(BlkRequest, WriteHeaderAndDataInSeparateBuffers) {
    Chain c = write_chain(16, 2048);
    std::vector<iovec> data;
    auto p = parse(c, data);
    EXPECT_EQ(p.op, BlkOp::kWrite);
    EXPECT_EQ(p.offset, 16u * 512);
    EXPECT_EQ(p.length, 2048u);
    ASSERT_EQ(data.size(), 1u);
    EXPECT_EQ(data[0].iov_base, c.outbuf.data() + 16);
    EXPECT_EQ(p.status_byte, c.inbuf.data());
}

TEST(BlkRequest, WriteHeaderAndDataInOneBuffer) {
    Chain c;
    c.set_out(cat(Chain::header(VIRTIO_BLK_T_OUT, 2), std::vector<uint8_t>(512, 1)));
    c.set_in({1});
    std::vector<iovec> data;
    auto p = parse(c, data);
    EXPECT_EQ(p.op, BlkOp::kWrite);
    EXPECT_EQ(p.sector, 2u);
    ASSERT_EQ(data.size(), 1u);
    EXPECT_EQ(data[0].iov_base, c.outbuf.data() + 16);
    EXPECT_EQ(data[0].iov_len, 512u);
}

TEST(BlkRequest, HeaderSplitAcrossBuffers) {
    for (std::vector<size_t> cuts : {std::vector<size_t>{1, 1, 1, 1, 12}, {3, 5, 8}, {15}, {8, 4}}) {
        Chain c;
        // The last header piece may also carry the start of the data.
        c.set_out(cat(Chain::header(VIRTIO_BLK_T_OUT, 0x123), std::vector<uint8_t>(1024, 2)),
                  cuts);
        c.set_in({1});
        std::vector<iovec> data;
        auto p = parse(c, data);
        EXPECT_EQ(p.op, BlkOp::kWrite);
        EXPECT_EQ(p.type, uint32_t{VIRTIO_BLK_T_OUT});
        EXPECT_EQ(p.sector, 0x123u);
        EXPECT_EQ(p.length, 1024u);
        size_t total = 0;
        for (auto& v : data) total += v.iov_len;
        EXPECT_EQ(total, 1024u);
        EXPECT_EQ(data[0].iov_base, c.outbuf.data() + 16);
    }
}

TEST(BlkRequest, WriteOnReadOnlyDisk) {
    expect_refused(parse(write_chain(0, 512), limits(true)), VIRTIO_BLK_S_IOERR);
}

TEST(BlkRequest, WriteLengthNotMultipleOf512) {
    expect_refused(parse(write_chain(0, 100)), VIRTIO_BLK_S_IOERR);
    expect_refused(parse(write_chain(0, 513)), VIRTIO_BLK_S_IOERR);
}

TEST(BlkRequest, WriteStatusIsLastByteOfLongerIn) {
    Chain c = write_chain(0, 512);
    c.set_in({7, 3});
    auto p = parse(c);
    EXPECT_EQ(p.op, BlkOp::kWrite);
    EXPECT_EQ(p.status_byte, c.inbuf.data() + 9);
}

// ---------------------------------------------------------------- header and status

TEST(BlkRequest, HeaderTooShort) {
    Chain c;
    auto h = Chain::header(VIRTIO_BLK_T_IN, 0);
    h.resize(15);
    c.set_out(h, {7});
    c.set_in({512, 1});
    expect_refused(parse(c), VIRTIO_BLK_S_IOERR);
}

TEST(BlkRequest, NoOutBuffers) {
    Chain c;
    c.set_in({512, 1});
    expect_refused(parse(c), VIRTIO_BLK_S_IOERR);
}

TEST(BlkRequest, NoStatusByteCannotBeAnswered) {
    Chain c;
    c.set_out(cat(Chain::header(VIRTIO_BLK_T_OUT, 0), std::vector<uint8_t>(512)));
    auto p = parse(c);
    EXPECT_EQ(p.op, BlkOp::kComplete);
    EXPECT_EQ(p.status_byte, nullptr);
    EXPECT_FALSE(p.error.empty());

    c.set_in({0, 0});  // only empty writable buffers
    p = parse(c);
    EXPECT_EQ(p.status_byte, nullptr);

    Chain e;  // nothing at all
    EXPECT_EQ(parse(e).status_byte, nullptr);
}

TEST(BlkRequest, DataListIsClearedFirst) {
    std::vector<iovec> data(5, iovec{nullptr, 1});
    Chain c;
    c.set_out(Chain::header(VIRTIO_BLK_T_FLUSH, 0));
    c.set_in({1});
    parse(c, data);
    EXPECT_TRUE(data.empty());
}

// ---------------------------------------------------------------- flush, get-id, unknown

TEST(BlkRequest, Flush) {
    Chain c;
    c.set_out(Chain::header(VIRTIO_BLK_T_FLUSH, 0));
    c.set_in({1});
    EXPECT_EQ(parse(c).op, BlkOp::kFlush);
    EXPECT_EQ(parse(c, limits(true)).op, BlkOp::kFlush);
}

TEST(BlkRequest, FlushWithNonZeroSectorIsRefused) {
    Chain c;
    c.set_out(Chain::header(VIRTIO_BLK_T_FLUSH, 77));
    c.set_in({1});
    auto p = parse(c);
    EXPECT_EQ(p.op, BlkOp::kComplete);
    EXPECT_EQ(p.status, VIRTIO_BLK_S_IOERR);
    Chain ok;
    ok.set_out(Chain::header(VIRTIO_BLK_T_FLUSH, 0));
    ok.set_in({1});
    EXPECT_EQ(parse(ok).op, BlkOp::kFlush);
}

TEST(BlkRequest, GetIdRoom) {
    struct Case {
        std::vector<size_t> in;
        uint64_t expect;
    };
    for (const auto& k : std::vector<Case>{{{20, 1}, 20}, {{8, 1}, 8}, {{1}, 0}, {{100, 1}, 20},
                                           {{5, 5, 5, 5, 5, 1}, 20}, {{3, 4}, 6}}) {
        Chain c;
        c.set_out(Chain::header(VIRTIO_BLK_T_GET_ID, 0));
        c.set_in(k.in);
        std::vector<iovec> data;
        auto p = parse(c, data);
        EXPECT_EQ(p.op, BlkOp::kGetId);
        EXPECT_EQ(p.length, k.expect);
        size_t total = 0;
        for (auto& v : data) total += v.iov_len;
        EXPECT_EQ(total, k.expect);
    }
}

TEST(BlkRequest, UnknownTypesAreUnsupported) {
    for (uint32_t type : {2u, 3u, 5u, 9u, 10u, 12u, 14u, 15u, 0x80000000u, 0x80000001u, 0xffffffffu}) {
        Chain c;
        c.set_out(Chain::header(type, 0));
        c.set_in({512, 1});
        auto p = parse(c);
        expect_refused(p, VIRTIO_BLK_S_UNSUPP);
        EXPECT_EQ(p.type, type);
    }
}

// ---------------------------------------------------------------- discard, write-zeroes

TEST(BlkRequest, Discard) {
    auto p = parse(segment_chain(VIRTIO_BLK_T_DISCARD, 64, 128, 0));
    EXPECT_EQ(p.op, BlkOp::kDiscard);
    EXPECT_EQ(p.offset, 64u * 512);
    EXPECT_EQ(p.length, 128u * 512);
    EXPECT_FALSE(p.unmap);
}

TEST(BlkRequest, SegmentSplitAcrossBuffers) {
    Chain c;
    c.set_out(cat(Chain::header(VIRTIO_BLK_T_WRITE_ZEROES, 0),
                  Chain::segment(10, 6, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)),
              {10, 9, 2});
    c.set_in({1});
    auto p = parse(c);
    EXPECT_EQ(p.op, BlkOp::kWriteZeroes);
    EXPECT_EQ(p.offset, 10u * 512);
    EXPECT_EQ(p.length, 6u * 512);
    EXPECT_TRUE(p.unmap);
}

TEST(BlkRequest, WriteZeroesWithAndWithoutUnmap) {
    auto p = parse(segment_chain(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0));
    EXPECT_EQ(p.op, BlkOp::kWriteZeroes);
    EXPECT_FALSE(p.unmap);
    p = parse(segment_chain(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP));
    EXPECT_EQ(p.op, BlkOp::kWriteZeroes);
    EXPECT_TRUE(p.unmap);
}

TEST(BlkRequest, MoreThanOneSegmentIsUnsupported) {
    for (uint32_t type : {VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES}) {
        Chain c;
        c.set_out(cat(cat(Chain::header(type, 0), Chain::segment(0, 8, 0)), Chain::segment(8, 8, 0)),
                  {16});
        c.set_in({1});
        expect_refused(parse(c), VIRTIO_BLK_S_UNSUPP);
        // Any excess byte counts as a second segment.
        c.set_out(cat(cat(Chain::header(type, 0), Chain::segment(0, 8, 0)), {0}), {16});
        expect_refused(parse(c), VIRTIO_BLK_S_UNSUPP);
    }
}

TEST(BlkRequest, SegmentTooShort) {
    for (uint32_t type : {VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES}) {
        Chain c;
        auto seg = Chain::segment(0, 8, 0);
        seg.resize(8);
        c.set_out(cat(Chain::header(type, 0), seg));
        c.set_in({1});
        expect_refused(parse(c), VIRTIO_BLK_S_IOERR);
        c.set_out(Chain::header(type, 0));  // no segment at all
        expect_refused(parse(c), VIRTIO_BLK_S_IOERR);
    }
}

TEST(BlkRequest, SegmentSectorCounts) {
    for (uint32_t type : {VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES}) {
        expect_refused(parse(segment_chain(type, 0, 0xffffffffu, 0)), VIRTIO_BLK_S_IOERR);
        blk::RequestLimits big = limits();
        big.capacity_sectors = uint64_t{1} << 30;
        EXPECT_NE(parse(segment_chain(type, 0, 32768, 0), big).op, BlkOp::kComplete);
        expect_refused(parse(segment_chain(type, 0, 32769, 0), big), VIRTIO_BLK_S_IOERR);
        // Out of range.
        expect_refused(parse(segment_chain(type, kCapacity - 4, 8, 0)), VIRTIO_BLK_S_IOERR);
        expect_refused(parse(segment_chain(type, kCapacity, 1, 0)), VIRTIO_BLK_S_IOERR);
        EXPECT_NE(parse(segment_chain(type, kCapacity - 8, 8, 0)).op, BlkOp::kComplete);
        // An empty range needs no I/O.
        auto p = parse(segment_chain(type, 0, 0, 0));
        EXPECT_EQ(p.op, BlkOp::kComplete);
        EXPECT_EQ(p.status, VIRTIO_BLK_S_OK);
    }
}

TEST(BlkRequest, SegmentFlags) {
    for (uint32_t type : {VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES}) {
        for (uint32_t flags : {2u, 4u, 0x80000000u, 3u, 0xffffffffu})
            expect_refused(parse(segment_chain(type, 0, 8, flags)), VIRTIO_BLK_S_UNSUPP);
    }
    expect_refused(parse(segment_chain(VIRTIO_BLK_T_DISCARD, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)),
                   VIRTIO_BLK_S_UNSUPP);
}

TEST(BlkRequest, DiscardAndWriteZeroesOnReadOnlyDisk) {
    expect_refused(parse(segment_chain(VIRTIO_BLK_T_DISCARD, 0, 8, 0), limits(true)),
                   VIRTIO_BLK_S_IOERR);
    expect_refused(parse(segment_chain(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), limits(true)),
                   VIRTIO_BLK_S_IOERR);
}

TEST(BlkRequest, HeaderIsReadOnce) {
    // The result is a copy: changing guest memory afterwards changes nothing.
    Chain c = write_chain(4, 512);
    std::vector<iovec> data;
    auto p = parse(c, data);
    auto evil = Chain::header(VIRTIO_BLK_T_IN, 0xdead);
    std::memcpy(c.outbuf.data(), evil.data(), evil.size());
    EXPECT_EQ(p.op, BlkOp::kWrite);
    EXPECT_EQ(p.offset, 4u * 512);
}

TEST(BlkRequest, UnmappedRequestIsAnsweredInTheLastWritableByte) {
    using xenvhost::memory::GuestBuffer;
    const std::vector<GuestBuffer> read{{0x1000, 16, false}, {0x2000, 4096, true}, {0x3000, 8, true}};
    auto b = blk::status_byte_buffer(read);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->gpa, 0x3007u);
    EXPECT_EQ(b->len, 1u);
    EXPECT_TRUE(b->writable);
    const std::vector<GuestBuffer> no_writable{{0x1000, 16, false}};
    EXPECT_FALSE(blk::status_byte_buffer(no_writable));
    EXPECT_FALSE(blk::status_byte_buffer({}));
}
