// A disk served read-only.
#include "fixture.hpp"

namespace xenvhost::component {
namespace {

class ReadOnlyTest : public BackendTest {
protected:
    BackendConfig config() const override {
        BackendConfig c;
        c.read_only = true;
        return c;
    }
};

TEST_F(ReadOnlyTest, OffersRo) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, connect());
    EXPECT_TRUE(s->offered_features() & vhost_user::bit(VIRTIO_BLK_F_RO));
}

TEST_F(ReadOnlyTest, WriteFailsAndImageIsUnchanged) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    auto data = random_bytes(100, 8192);
    BlkCompletion c;
    ASSERT_OK_AND_ASSIGN(c, s->blk(0).run(BlkCommand::out(100, data)));
    EXPECT_EQ(c.status, VIRTIO_BLK_S_IOERR) << blk_status_name(c.status);
    EXPECT_EQ(file_bytes(100 * kSectorSize, 8192), original(100 * kSectorSize, 8192));
    std::vector<uint8_t> back;
    ASSERT_OK_AND_ASSIGN(back, s->blk(0).read(100, 8192));
    EXPECT_EQ(first_difference(back, original(100 * kSectorSize, 8192)), -1);
}

TEST_F(ReadOnlyTest, WriteZeroesAndDiscardFail) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    BlkCompletion c;
    for (bool unmap : {false, true}) {
        ASSERT_OK_AND_ASSIGN(c, s->blk(0).run(BlkCommand::write_zeroes(200, 16, unmap)));
        EXPECT_NE(c.status, VIRTIO_BLK_S_OK) << "write-zeroes on a read-only disk succeeded";
    }
    ASSERT_OK_AND_ASSIGN(c, s->blk(0).run(BlkCommand::discard(200, 16)));
    EXPECT_NE(c.status, VIRTIO_BLK_S_OK) << "discard on a read-only disk succeeded";
    EXPECT_EQ(file_bytes(200 * kSectorSize, 16 * kSectorSize),
              original(200 * kSectorSize, 16 * kSectorSize));
}

TEST_F(ReadOnlyTest, ReadsWork) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    for (uint64_t sector : {0ull, 12345ull, 30000ull}) {
        std::vector<uint8_t> back;
        ASSERT_OK_AND_ASSIGN(back, s->blk(0).read(sector, 65536));
        EXPECT_EQ(first_difference(back, original(sector * kSectorSize, 65536)), -1);
    }
}

}  // namespace
}  // namespace xenvhost::component
