// GET_VRING_BASE after I/O, stopping and restarting rings, index wrap.
#include "fixture.hpp"

#include <unistd.h>

#include <map>

namespace xenvhost::component {
namespace {

using VringBaseTest = BackendTest;

TEST_F(VringBaseTest, ReturnsNextAvailIndexAfterIo) {
    SessionOptions o = default_session();
    o.num_queues = 2;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    for (int i = 0; i < 37; ++i) ASSERT_OK(s->blk(0).read(i * 8, 4096));
    for (int i = 0; i < 5; ++i) ASSERT_OK(s->blk(1).read(i * 8, 4096));
    std::vector<uint32_t> bases;
    ASSERT_OK_AND_ASSIGN(bases, s->stop());
    ASSERT_EQ(bases.size(), 2u);
    EXPECT_EQ(bases[0], 37u);
    EXPECT_EQ(bases[1], 5u);
}

TEST_F(VringBaseTest, StopCompletesWhatItConsumed) {
    // GET_VRING_BASE while requests are in flight: every request the device
    // took from the avail ring is completed before the answer (used idx ==
    // base), the rest stays in the ring and runs after the restart.
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    std::map<uint64_t, std::vector<uint8_t>> written;
    for (unsigned i = 0; i < 32; ++i) {
        uint64_t sector = 2000 + i * 128;
        written[sector] = random_bytes(sector, 65536);
        ASSERT_OK(s->blk(0).submit(BlkCommand::out(sector, written[sector])));
    }
    s->blk(0).flush();
    // Stop once the device is demonstrably busy with the batch.
    for (int i = 0; i < 5000 && s->queue(0).used_idx() == 0; ++i) ::usleep(1000);
    ASSERT_NE(s->queue(0).used_idx(), 0) << "no request completed";
    uint32_t base;
    ASSERT_OK_AND_ASSIGN(base, s->stop_queue(0));
    EXPECT_LE(base, 32u);
    EXPECT_EQ(s->queue(0).used_idx(), base) << "requests consumed but not completed at stop";
    std::vector<BlkCompletion> done;
    ASSERT_OK_AND_ASSIGN(done, s->blk(0).poll(0, 32));
    EXPECT_EQ(done.size(), base);
    ASSERT_OK(s->start_queue(0, base));
    // The restarted ring needs a kick for what is still pending.
    s->queue(0).kick();
    size_t total = done.size();
    while (total < 32) {
        std::vector<BlkCompletion> more;
        ASSERT_OK_AND_ASSIGN(more, s->blk(0).poll(10000, 32 - total));
        ASSERT_FALSE(more.empty()) << "only " << total << " of 32 completed after restart";
        done.insert(done.end(), more.begin(), more.end());
        total += more.size();
    }
    for (const auto& c : done) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK);
    for (const auto& [sector, data] : written)
        EXPECT_EQ(first_difference(file_bytes(sector * kSectorSize, data.size()), data), -1);
}

TEST_F(VringBaseTest, StopAndRestartKeepsServing) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    uint32_t expected = 0;
    for (int round = 0; round < 4; ++round) {
        for (int i = 0; i < 3; ++i) {
            verified_io(s->blk(0), 7000 + round * 64 + i * 16, 4096, 200 + round * 4 + i);
            expected += 2;  // a write and a read
        }
        uint32_t base;
        ASSERT_OK_AND_ASSIGN(base, s->stop_queue(0));
        EXPECT_EQ(base, expected) << "round " << round;
        ASSERT_OK(s->start_queue(0, base));
    }
}

TEST_F(VringBaseTest, OtherQueueServesWhileOneIsStopped) {
    SessionOptions o = default_session();
    o.num_queues = 2;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    verified_io(s->blk(0), 7500, 4096, 210);
    uint32_t base;
    ASSERT_OK_AND_ASSIGN(base, s->stop_queue(0));
    EXPECT_EQ(base, 2u);
    verified_io(s->blk(1), 7600, 4096, 211);
    ASSERT_OK(s->start_queue(0, base));
    verified_io(s->blk(0), 7700, 4096, 212);
}

TEST_F(VringBaseTest, IndexWrapsAround) {
    SessionOptions o = default_session();
    o.queue_size = 16;
    o.blk.depth = 4;
    o.initial_ring_index = 65530;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    for (int i = 0; i < 10; ++i) verified_io(s->blk(0), 8000 + i * 8, 4096, 220 + i);
    uint32_t base;
    ASSERT_OK_AND_ASSIGN(base, s->stop_queue(0));
    EXPECT_EQ(base, (65530u + 20u) & 0xffffu);
}

}  // namespace
}  // namespace xenvhost::component
