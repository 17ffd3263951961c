// Several queues, indirect descriptors, EVENT_IDX on and off, queue depth.
#include "fixture.hpp"

#include "frontend/virtio_ring.hpp"

#include <map>
#include <random>
#include <thread>

namespace xenvhost::component {
namespace {

using vhost_user::bit;
using QueuesTest = BackendTest;

// Submits writes to distinct 4 KiB blocks on every queue before kicking any,
// then waits for all of them; returns what each block should now hold.
void concurrent_writes(BlkSession& s, unsigned per_queue, uint64_t first_sector,
                       std::map<uint64_t, std::vector<uint8_t>>& written) {
    for (size_t qi = 0; qi < s.num_queues(); ++qi) {
        for (unsigned i = 0; i < per_queue; ++i) {
            uint64_t sector = first_sector + (qi * per_queue + i) * 8;
            written[sector] = random_bytes(sector, 4096);
            auto slot = s.blk(qi).submit(BlkCommand::out(sector, written[sector]));
            ASSERT_TRUE(slot) << slot.error().message;
        }
    }
    for (size_t qi = 0; qi < s.num_queues(); ++qi) s.blk(qi).flush();
    for (size_t qi = 0; qi < s.num_queues(); ++qi) {
        size_t done = 0;
        while (done < per_queue) {
            auto c = s.blk(qi).poll(10000, per_queue - done);
            ASSERT_TRUE(c) << c.error().message;
            ASSERT_FALSE(c->empty()) << "queue " << qi << ": only " << done << " of " << per_queue
                                     << " completed";
            for (const auto& x : *c) EXPECT_EQ(x.status, VIRTIO_BLK_S_OK);
            done += c->size();
        }
    }
}

TEST_F(QueuesTest, TwoQueuesInParallel) {
    SessionOptions o = default_session();
    o.num_queues = 2;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    std::map<uint64_t, std::vector<uint8_t>> written;
    concurrent_writes(*s, 16, 8000, written);
    for (const auto& [sector, data] : written)
        EXPECT_EQ(first_difference(file_bytes(sector * kSectorSize, 4096), data), -1)
            << "sector " << sector;
    // Reads on the opposite queue from the one that wrote.
    for (const auto& [sector, data] : written) {
        std::vector<uint8_t> back;
        ASSERT_OK_AND_ASSIGN(back, s->blk((sector / 8) % 2).read(sector, 4096));
        EXPECT_EQ(first_difference(back, data), -1) << "sector " << sector;
    }
}

TEST_F(QueuesTest, IndirectDescriptors) {
    SessionOptions o = default_session();
    o.indirect_chains = true;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    ASSERT_TRUE(s->acked_features() & bit(VIRTIO_RING_F_INDIRECT_DESC));
    verified_io(s->blk(0), 10000, 4096, 21);
    verified_io(s->blk(0), 10100, 65536, 22);
    // 32 data descriptors in one table.
    s->blk(0).set_segment_size(2048);
    verified_io(s->blk(0), 10300, 65536, 23);
    std::vector<uint8_t> id;
    ASSERT_OK_AND_ASSIGN(id, s->blk(0).get_id());
    ASSERT_OK(s->blk(0).flush_cache());
    // Mixed: direct and indirect chains in flight together.
    std::map<uint64_t, std::vector<uint8_t>> written;
    for (unsigned i = 0; i < 16; ++i) {
        s->blk(0).set_indirect(i % 2);
        uint64_t sector = 10500 + i * 8;
        written[sector] = random_bytes(sector, 4096);
        ASSERT_OK(s->blk(0).submit(BlkCommand::out(sector, written[sector])));
    }
    s->blk(0).flush();
    std::vector<BlkCompletion> done;
    ASSERT_OK_AND_ASSIGN(done, s->blk(0).poll(10000, 16));
    ASSERT_EQ(done.size(), 16u);
    for (const auto& c : done) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK);
    for (const auto& [sector, data] : written)
        EXPECT_EQ(first_difference(file_bytes(sector * kSectorSize, 4096), data), -1);
}

class EventIdxTest : public BackendTest, public ::testing::WithParamInterface<bool> {};

TEST_P(EventIdxTest, RandomMixedIoAtDepth8) {
    SessionOptions o = default_session();
    o.event_idx = GetParam();
    o.blk.depth = 8;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    EXPECT_EQ(bool(s->acked_features() & bit(VIRTIO_RING_F_EVENT_IDX)), GetParam());
    // A model of the first 4 MiB; each batch touches distinct 4 KiB blocks.
    const uint64_t blocks = 1024;
    std::vector<uint8_t> model = original(0, blocks * 4096);
    std::mt19937_64 rng(GetParam() ? 1 : 2);
    BlkQueue& q = s->blk(0);
    for (int batch = 0; batch < 40; ++batch) {
        std::map<uint64_t, bool> used;
        std::map<unsigned, uint64_t> reads;  // slot -> block
        for (int i = 0; i < 8; ++i) {
            uint64_t block;
            do block = rng() % blocks; while (used.count(block));
            used[block] = true;
            if (rng() % 2) {
                auto data = random_bytes(rng(), 4096);
                std::copy(data.begin(), data.end(), model.begin() + block * 4096);
                ASSERT_OK(q.submit(BlkCommand::out(block * 8, data)));
            } else {
                unsigned slot;
                ASSERT_OK_AND_ASSIGN(slot, q.submit(BlkCommand::in(block * 8, 4096)));
                reads[slot] = block;
            }
        }
        q.flush();
        size_t done = 0;
        while (done < 8) {
            std::vector<BlkCompletion> cs;
            ASSERT_OK_AND_ASSIGN(cs, q.poll(10000, 8 - done));
            ASSERT_FALSE(cs.empty()) << "batch " << batch << " stalled after " << done;
            for (const auto& c : cs) {
                ASSERT_EQ(c.status, VIRTIO_BLK_S_OK);
                if (c.type == VIRTIO_BLK_T_IN) {
                    std::vector<uint8_t> got;
                    ASSERT_OK_AND_ASSIGN(got, q.data(c));
                    uint64_t block = reads.at(c.slot);
                    std::vector<uint8_t> want(model.begin() + block * 4096,
                                              model.begin() + (block + 1) * 4096);
                    ASSERT_EQ(first_difference(got, want), -1) << "block " << block;
                }
            }
            done += cs.size();
        }
    }
    EXPECT_EQ(first_difference(file_bytes(0, model.size()), model), -1);
}

INSTANTIATE_TEST_SUITE_P(EventIdx, EventIdxTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "On" : "Off"; });

TEST_F(QueuesTest, EventIdxUsedEventIsHonoured) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    ASSERT_TRUE(s->acked_features() & bit(VIRTIO_RING_F_EVENT_IDX));
    SplitQueue& q = s->queue(0);
    BlkQueue& b = s->blk(0);
    // A device may notify unconditionally the first time after a start.
    ASSERT_OK(b.read(12000, 4096));
    // Calls suppressed: a completion arrives without one.
    q.suppress_interrupts();
    q.drain_call();
    ASSERT_OK(b.submit(BlkCommand::in(12000, 4096)));
    b.flush();
    for (int i = 0; i < 1000 && q.used_idx() == q.last_used_idx(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_NE(q.used_idx(), q.last_used_idx()) << "request not completed";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(q.drain_call()) << "call sent although used_event asked for none";
    std::vector<BlkCompletion> done;
    ASSERT_OK_AND_ASSIGN(done, b.poll(0, 1));
    ASSERT_EQ(done.size(), 1u);
    // Asked for: the next completion calls.
    ASSERT_TRUE(q.arm_interrupt());
    ASSERT_OK(b.submit(BlkCommand::in(12008, 4096)));
    b.flush();
    bool called = false;
    ASSERT_OK_AND_ASSIGN(called, q.wait_call(10000));
    EXPECT_TRUE(called) << "no call although used_event asked for one";
    ASSERT_OK_AND_ASSIGN(done, b.poll(1000, 1));
    EXPECT_EQ(done.size(), 1u);
}

TEST_F(QueuesTest, QueueDepth32) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    BlkQueue& q = s->blk(0);
    ASSERT_EQ(q.depth(), 32u);
    std::map<uint64_t, std::vector<uint8_t>> written;
    for (unsigned i = 0; i < 32; ++i) {
        uint64_t sector = 14000 + i * 16;
        written[sector] = random_bytes(sector, 8192);
        ASSERT_OK(q.submit(BlkCommand::out(sector, written[sector])));
    }
    EXPECT_TRUE(q.full());
    q.flush();
    std::vector<BlkCompletion> done;
    ASSERT_OK_AND_ASSIGN(done, q.poll(10000, 32));
    ASSERT_EQ(done.size(), 32u);
    for (const auto& c : done) EXPECT_EQ(c.status, VIRTIO_BLK_S_OK);
    for (const auto& [sector, data] : written)
        EXPECT_EQ(first_difference(file_bytes(sector * kSectorSize, data.size()), data), -1);
    std::map<unsigned, uint64_t> slot_sector;
    for (const auto& [sector, data] : written) {
        unsigned slot;
        ASSERT_OK_AND_ASSIGN(slot, q.submit(BlkCommand::in(sector, 8192)));
        slot_sector[slot] = sector;
    }
    q.flush();
    ASSERT_OK_AND_ASSIGN(done, q.poll(10000, 32));
    ASSERT_EQ(done.size(), 32u);
    for (const auto& c : done) {
        ASSERT_EQ(c.status, VIRTIO_BLK_S_OK);
        std::vector<uint8_t> got;
        ASSERT_OK_AND_ASSIGN(got, q.data(c));
        EXPECT_EQ(first_difference(got, written.at(slot_sector.at(c.slot))), -1);
    }
}

TEST_F(QueuesTest, FullAvailRing) {
    // As many requests as the queue has entries: avail idx - last avail ==
    // queue size must be processed, not taken for an empty ring.
    // Indirect chains: one ring descriptor per request.
    SessionOptions o = default_session();
    o.queue_size = 16;
    o.blk.depth = 16;
    o.indirect_chains = true;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    for (int round = 0; round < 3; ++round) {
        for (unsigned i = 0; i < 16; ++i)
            ASSERT_OK(s->blk(0).submit(BlkCommand::in(16000 + i * 8, 4096)));
        s->blk(0).flush();
        std::vector<BlkCompletion> done;
        ASSERT_OK_AND_ASSIGN(done, s->blk(0).poll(10000, 16));
        ASSERT_EQ(done.size(), 16u) << "round " << round;
        for (const auto& c : done) {
            ASSERT_EQ(c.status, VIRTIO_BLK_S_OK);
            std::vector<uint8_t> got;
            ASSERT_OK_AND_ASSIGN(got, s->blk(0).data(c));
        }
    }
}

}  // namespace
}  // namespace xenvhost::component
