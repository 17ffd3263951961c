// Request types, each checked against the image file.
#include "fixture.hpp"

namespace xenvhost::component {
namespace {

using IoTest = BackendTest;

TEST_F(IoTest, ReadMatchesImage) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    uint64_t last = s->capacity_sectors() - 1;
    struct Case { uint64_t sector; uint32_t len; };
    for (Case c : {Case{0, 512}, Case{1, 4096}, Case{777, 65536 + 512}, Case{4096, 128 * 1024},
                   Case{last, 512}, Case{last - 7, 4096}}) {
        std::vector<uint8_t> got;
        ASSERT_OK_AND_ASSIGN(got, s->blk(0).read(c.sector, c.len));
        auto want = file_bytes(c.sector * kSectorSize, c.len);
        EXPECT_EQ(first_difference(got, want), -1) << "sector " << c.sector << " len " << c.len;
        EXPECT_EQ(first_difference(got, original(c.sector * kSectorSize, c.len)), -1);
    }
}

TEST_F(IoTest, WriteReachesImage) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    for (uint32_t len : {512u, 4096u, 12288u, 131072u}) {
        uint64_t sector = 1000 + len / 64;
        auto data = random_bytes(len, len);
        ASSERT_OK(s->blk(0).write(sector, data));
        EXPECT_EQ(first_difference(file_bytes(sector * kSectorSize, len), data), -1)
            << "len " << len;
        // The neighbours are untouched.
        EXPECT_EQ(file_bytes(sector * kSectorSize - 512, 512),
                  original(sector * kSectorSize - 512, 512));
        EXPECT_EQ(file_bytes((sector * kSectorSize) + len, 512),
                  original((sector * kSectorSize) + len, 512));
    }
}

TEST_F(IoTest, ChainsOfManyDescriptors) {
    // Up to 100 KiB in 512-byte descriptors: chains of up to 202
    // descriptors (bounded by seg_max), within the queue size of 256.
    SessionOptions o = default_session();
    o.queue_size = 256;
    o.blk.segment_size = 512;
    o.blk.depth = 1;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    uint32_t seg_max = s->config().seg_max;
    uint32_t len = std::min<uint32_t>(seg_max, 200) * 512;
    auto data = random_bytes(9, len);
    ASSERT_OK(s->blk(0).write(2048, data));
    EXPECT_EQ(first_difference(file_bytes(2048 * kSectorSize, len), data), -1);
    std::vector<uint8_t> back;
    ASSERT_OK_AND_ASSIGN(back, s->blk(0).read(2048, len));
    EXPECT_EQ(first_difference(back, data), -1);
    // Uneven segments: 1000-byte descriptors do not line up with sectors.
    s->blk(0).set_segment_size(1000);
    ASSERT_OK_AND_ASSIGN(back, s->blk(0).read(2048, 8192));
    EXPECT_EQ(first_difference(back, std::vector<uint8_t>(data.begin(), data.begin() + 8192)), -1);
}

TEST_F(IoTest, FlushAfterWrite) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    auto data = random_bytes(11, 8192);
    ASSERT_OK(s->blk(0).write(3000, data));
    ASSERT_OK(s->blk(0).flush_cache());
    EXPECT_EQ(first_difference(file_bytes(3000 * kSectorSize, data.size()), data), -1);
}

TEST_F(IoTest, WriteZeroes) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    ASSERT_OK(s->blk(0).write_zeroes(4000, 64, false));
    EXPECT_EQ(file_bytes(4000 * kSectorSize, 64 * kSectorSize),
              std::vector<uint8_t>(64 * kSectorSize, 0));
    EXPECT_EQ(file_bytes(3999 * kSectorSize, 512), original(3999 * kSectorSize, 512));
    EXPECT_EQ(file_bytes(4064 * kSectorSize, 512), original(4064 * kSectorSize, 512));
    std::vector<uint8_t> back;
    ASSERT_OK_AND_ASSIGN(back, s->blk(0).read(4000, 64 * kSectorSize));
    EXPECT_EQ(back, std::vector<uint8_t>(64 * kSectorSize, 0));
}

TEST_F(IoTest, WriteZeroesWithUnmap) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    // Unaligned start and a length that is not a multiple of 8 sectors.
    ASSERT_OK(s->blk(0).write_zeroes(5003, 133, true));
    EXPECT_EQ(file_bytes(5003 * kSectorSize, 133 * kSectorSize),
              std::vector<uint8_t>(133 * kSectorSize, 0));
    EXPECT_EQ(file_bytes(5002 * kSectorSize, 512), original(5002 * kSectorSize, 512));
    EXPECT_EQ(file_bytes(5136 * kSectorSize, 512), original(5136 * kSectorSize, 512));
}

TEST_F(IoTest, Discard) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    ASSERT_OK(s->blk(0).discard(6000, 256));
    // Discarded data is undefined, but each sector is either what it was or
    // zeroes (no garbage), and the neighbours are untouched.
    auto after = file_bytes(6000 * kSectorSize, 256 * kSectorSize);
    auto before = original(6000 * kSectorSize, 256 * kSectorSize);
    std::vector<uint8_t> zero(kSectorSize, 0);
    for (size_t i = 0; i < 256; ++i) {
        std::vector<uint8_t> a(after.begin() + i * kSectorSize, after.begin() + (i + 1) * kSectorSize);
        std::vector<uint8_t> b(before.begin() + i * kSectorSize, before.begin() + (i + 1) * kSectorSize);
        EXPECT_TRUE(a == b || a == zero) << "sector " << 6000 + i << " holds neither its data nor zeroes";
    }
    EXPECT_EQ(file_bytes(5999 * kSectorSize, 512), original(5999 * kSectorSize, 512));
    EXPECT_EQ(file_bytes(6256 * kSectorSize, 512), original(6256 * kSectorSize, 512));
}

TEST_F(IoTest, GetIdReturnsSerial) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    std::vector<uint8_t> id;
    ASSERT_OK_AND_ASSIGN(id, s->blk(0).get_id());
    ASSERT_EQ(id.size(), size_t{VIRTIO_BLK_ID_BYTES});
    std::string want = expected_serial();
    std::vector<uint8_t> expect(VIRTIO_BLK_ID_BYTES, 0);
    std::copy(want.begin(), want.end(), expect.begin());
    EXPECT_EQ(id, expect) << "got '" << std::string(id.begin(), id.end()) << "'";
}

TEST_F(IoTest, AnyLayoutHeaderSplitAndStatusMerged) {
    // VERSION_1 implies ANY_LAYOUT: the 16-byte header may be split over two
    // descriptors and the status byte may share the last data descriptor.
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    GuestMemory& mem = s->memory();
    SplitQueue& q = s->queue(0);
    uint64_t hdr, buf;
    ASSERT_OK_AND_ASSIGN(hdr, mem.alloc(16, 16));
    ASSERT_OK_AND_ASSIGN(buf, mem.alloc(4096 + 1, 512));
    virtio_blk_outhdr h{VIRTIO_BLK_T_IN, 0, 7000};
    ASSERT_OK(mem.write(hdr, bytes_of(h)));
    ASSERT_OK(mem.fill(buf, 4097, 0xee));
    Buffer chain[] = {{hdr, 8, false}, {hdr + 8, 8, false}, {buf, 4097, true}};
    ASSERT_OK(q.add(chain));
    q.publish_and_kick();
    std::optional<UsedElem> u;
    ASSERT_OK_AND_ASSIGN(u, q.wait_used(10000));
    ASSERT_TRUE(u) << "no completion";
    std::vector<uint8_t> got(4097);
    ASSERT_OK(mem.read(buf, got));
    EXPECT_EQ(got[4096], VIRTIO_BLK_S_OK);
    got.resize(4096);
    EXPECT_EQ(first_difference(got, original(7000 * kSectorSize, 4096)), -1);
    EXPECT_EQ(u->len, 4097u);
}

}  // namespace
}  // namespace xenvhost::component
