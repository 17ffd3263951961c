// The worker's --null-io, the bench's limit: every request completes OK and
// nothing reaches the image; without the option the same writes are stored.
#include "fixture.hpp"

namespace xenvhost::component {
namespace {

class NullIoTest : public WorkerOnlyTest {
protected:
    NullIoTest() : WorkerOnlyTest("--null-io is the worker's own") {}
    BackendConfig config() const override {
        BackendConfig c = WorkerOnlyTest::config();
        c.extra_args = {"--null-io"};
        return c;
    }
};

TEST_F(NullIoTest, RequestsCompleteOkAndWritesAreNotStored) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    BlkQueue& q = s->blk(0);
    const uint64_t sector = 2048;
    const uint32_t len = 16384;
    auto data = random_bytes(41, len);

    BlkCompletion c;
    ASSERT_OK_AND_ASSIGN(c, q.run(BlkCommand::out(sector, data)));
    EXPECT_EQ(c.status, VIRTIO_BLK_S_OK) << blk_status_name(c.status);
    EXPECT_EQ(file_bytes(sector * kSectorSize, len), original(sector * kSectorSize, len))
        << "a write under --null-io reached the image";

    // A read writes its status byte and reports its data as a real read would.
    ASSERT_OK_AND_ASSIGN(c, q.run(BlkCommand::in(sector, len)));
    EXPECT_EQ(c.status, VIRTIO_BLK_S_OK) << blk_status_name(c.status);
    EXPECT_EQ(c.used_len, len + 1);

    for (const BlkCommand& cmd : {BlkCommand::flush(), BlkCommand::discard(sector, 32),
                                  BlkCommand::write_zeroes(sector, 32, false)}) {
        ASSERT_OK_AND_ASSIGN(c, q.run(cmd));
        EXPECT_EQ(c.status, VIRTIO_BLK_S_OK) << "type " << cmd.type << ": " << blk_status_name(c.status);
    }
    EXPECT_EQ(file_bytes(sector * kSectorSize, len), original(sector * kSectorSize, len))
        << "discard or write-zeroes under --null-io changed the image";
}

TEST_F(NullIoTest, BadRequestsAreStillRefused) {
    // Only the I/O is left out: a request past the end fails as it would.
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    BlkCompletion c;
    ASSERT_OK_AND_ASSIGN(c, s->blk(0).run(BlkCommand::in(s->capacity_sectors(), 4096)));
    EXPECT_EQ(c.status, VIRTIO_BLK_S_IOERR) << blk_status_name(c.status);
}

TEST_F(NullIoTest, WithoutTheOptionWritesAreStored) {
    BackendConfig normal = config();
    normal.extra_args.clear();
    restart_backend(normal);
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    auto data = random_bytes(42, 16384);
    ASSERT_OK(s->blk(0).write(2048, data));
    EXPECT_EQ(first_difference(file_bytes(2048 * kSectorSize, data.size()), data), -1);
}

}  // namespace
}  // namespace xenvhost::component
