// queue::QueueEngine driven by plain calls over rings in plain memory, with a
// device that completes when the test says so.

#include "ring_fixture.hpp"

#include "base/eventfd.hpp"
#include "devices/blk/blk_request.hpp"
#include "queue/queue_engine.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace xenvhost;
using namespace xenvhost::virtio;
using xenvhost::testing::GuestRam;

namespace {
constexpr uint16_t kSize = 8;
constexpr RingAddresses kAddrs{0x1000, 0x2000, 0x3000};
constexpr uint64_t kData = 0x10000;  // head h's buffers: kData + h * 0x2000

// Records what it is given and completes on request; answers an unmapped
// request in its last writable byte, as virtio-blk does.
class TestHandler final : public devices::QueueHandler {
public:
    struct Started {
        uint16_t slot;
        size_t out, in;
        bool unmapped;
    };
    std::vector<Started>* started;
    devices::CompletionSink* sink = nullptr;
    unsigned pending = 0;
    unsigned flushes = 0;
    bool answers_unmapped = true;

    explicit TestHandler(std::vector<Started>& s) : started(&s) {}
    void start(uint16_t slot, const devices::Request& req, devices::CompletionSink& s) override {
        started->push_back({slot, req.out.size(), req.in.size(), req.unmapped});
        sink = &s;
        ++pending;
    }
    void flush() override { ++flushes; }
    int completion_fd() const override { return -1; }
    void reap(devices::CompletionSink&) override {}
    unsigned in_flight() const override { return pending; }
    std::optional<memory::GuestBuffer> answer_unmapped(std::span<const memory::GuestBuffer> chain) const override {
        if (!answers_unmapped) return std::nullopt;
        return devices::blk::status_byte_buffer(chain);
    }
    void finish(uint16_t slot, uint32_t written) {
        --pending;
        sink->complete(slot, written);
    }
};

// Plain memory in which buffers at or above `revoked` fail to map (a revoked grant).
class RevokingMemory final : public memory::GuestMemory {
public:
    RevokingMemory(std::shared_ptr<const memory::GuestMemory> inner, uint64_t revoked)
        : inner_(std::move(inner)), revoked_(revoked) {}
    std::string_view mode() const override { return "test"; }
    Result<memory::RingMapping> map_ring(uint64_t gpa, uint64_t len, bool w) const override {
        return inner_->map_ring(gpa, len, w);
    }
    bool read(uint64_t gpa, std::span<uint8_t> dst) const override { return inner_->read(gpa, dst); }
    Result<> map_buffers(std::span<const memory::GuestBuffer> bufs, memory::MappedBuffers& out) const override {
        for (const auto& b : bufs)
            if (b.gpa >= revoked_ && b.len > 1) return fail_as(ErrorKind::kMapFailure, "grant revoked");
        return inner_->map_buffers(bufs, out);
    }

private:
    std::shared_ptr<const memory::GuestMemory> inner_;
    uint64_t revoked_;
};

struct Engine : ::testing::Test {
    GuestRam ram;
    queue::QueueStats stats;
    std::vector<TestHandler::Started> started;
    TestHandler* handler = nullptr;
    UniqueFd err = *make_eventfd();
    std::unique_ptr<queue::QueueEngine> engine;

    void make(bool event_idx, std::shared_ptr<const memory::GuestMemory> mem = nullptr,
              std::shared_ptr<const InflightArea> inflight = nullptr, uint16_t last_avail = 0) {
        if (!mem) mem = ram.shared();
        auto ring = SplitRing::map(*mem, kSize, kAddrs, event_idx, last_avail);
        ASSERT_TRUE(ring);
        auto h = std::make_unique<TestHandler>(started);
        handler = h.get();
        auto err_fd = std::make_shared<UniqueFd>(::dup(err.get()));
        engine = std::make_unique<queue::QueueEngine>(std::move(*ring), queue::EngineSetup{0, false, 0, err_fd, inflight},
                                                      mem, std::move(h), stats);
    }
    // A 4 KiB read on head h: header, data, status.
    void chain(uint16_t h) {
        const uint64_t a = kData + h * 0x2000;
        ram.set_desc(kAddrs.desc, h, a, 16, kDescFNext, static_cast<uint16_t>((h + 1) % kSize));
        // Direct chains need distinct descriptors: heads are even, their tails the next odd one.
        ram.set_desc(kAddrs.desc, static_cast<uint16_t>((h + 1) % kSize), a + 0x1000, 4096, kDescFWrite);
    }
    void offer(std::initializer_list<uint16_t> heads) {
        auto* avail = ram.as<Avail>(kAddrs.avail);
        for (uint16_t h : heads) {
            chain(h);
            avail->ring[avail->idx % kSize] = h;
            ++avail->idx;
        }
    }
    Used* used() { return ram.as<Used>(kAddrs.used); }
    uint16_t& used_event() { return ram.as<Avail>(kAddrs.avail)->ring[kSize]; }
    bool err_signalled() { return eventfd_drain(err.get()); }
};

TEST_F(Engine, CompletesAndPublishes) {
    make(false);
    offer({0, 2});
    engine->process_available();
    ASSERT_EQ(started.size(), 2u);
    EXPECT_EQ(started[0].slot, 0);
    EXPECT_EQ(started[0].out, 1u);
    EXPECT_EQ(started[0].in, 1u);
    EXPECT_EQ(handler->flushes, 1u);  // one flush per batch
    handler->finish(0, 4096);
    EXPECT_EQ(used()->idx, 0);  // nothing visible before publish
    EXPECT_TRUE(engine->publish());
    EXPECT_EQ(used()->idx, 1);
    EXPECT_EQ(used()->ring[0].id, 0u);
    EXPECT_EQ(used()->ring[0].len, 4096u);
    EXPECT_EQ(stats.requests.load(), 1u);
    EXPECT_FALSE(engine->broken());
}

TEST_F(Engine, CompletesOutOfOrder) {
    make(false);
    offer({0, 2, 4});
    engine->process_available();
    ASSERT_EQ(started.size(), 3u);
    handler->finish(4, 1);
    handler->finish(0, 2);
    engine->publish();
    handler->finish(2, 3);
    engine->publish();
    ASSERT_EQ(used()->idx, 3);
    EXPECT_EQ(used()->ring[0].id, 4u);
    EXPECT_EQ(used()->ring[1].id, 0u);
    EXPECT_EQ(used()->ring[2].id, 2u);
    EXPECT_EQ(used()->ring[2].len, 3u);
    // A completion for a slot not in flight is refused, not published.
    handler->pending = 1;
    handler->finish(2, 9);
    EXPECT_FALSE(engine->publish());
    EXPECT_EQ(used()->idx, 3);
}

TEST_F(Engine, EventIdxSuppressesNotifications) {
    make(true);
    used_event() = 1;  // the driver wants a call once the used index passes 1
    offer({0, 2, 4});
    engine->process_available();
    handler->finish(0, 0);
    EXPECT_FALSE(engine->publish());  // 0 -> 1 does not cross the event
    handler->finish(2, 0);
    EXPECT_TRUE(engine->publish());  // 1 -> 2 does
    used_event() = 10;
    handler->finish(4, 0);
    EXPECT_FALSE(engine->publish());
    EXPECT_EQ(used()->idx, 3);
}

TEST_F(Engine, GuestFaultStopsTheQueue) {
    make(false);
    offer({0, 2});
    ram.set_desc(kAddrs.desc, 2, 0x7ffff000, 16, 0);  // outside the 1 MiB of guest memory
    engine->process_available();
    EXPECT_TRUE(engine->broken());
    EXPECT_TRUE(err_signalled());
    EXPECT_EQ(stats.broken_queues.load(), 1u);
    ASSERT_EQ(started.size(), 1u);  // head 0 went before the fault
    offer({4});
    engine->process_available();  // a broken queue takes nothing more
    EXPECT_EQ(started.size(), 1u);
}

TEST_F(Engine, HeadMadeAvailableTwiceStopsTheQueue) {
    make(false);
    offer({0, 0});
    engine->process_available();
    EXPECT_TRUE(engine->broken());
    EXPECT_TRUE(err_signalled());
}

TEST_F(Engine, MapFailureFailsOnlyItsRequest) {
    auto mem = std::make_shared<RevokingMemory>(ram.shared(), kData + 2 * 0x2000);
    make(false, mem);
    offer({0, 2});  // head 2's buffers are revoked
    engine->process_available();
    EXPECT_FALSE(engine->broken());
    EXPECT_FALSE(err_signalled());
    ASSERT_EQ(started.size(), 2u);
    EXPECT_FALSE(started[0].unmapped);
    EXPECT_TRUE(started[1].unmapped);  // only the byte the device answers in is mapped
    EXPECT_EQ(started[1].out, 0u);
    EXPECT_EQ(started[1].in, 1u);
    handler->finish(2, 1);
    handler->finish(0, 4096);
    engine->publish();
    EXPECT_EQ(used()->idx, 2);
    EXPECT_EQ(used()->ring[0].id, 2u);
}

TEST_F(Engine, MapFailureWithoutAnAnswerCompletesEmpty) {
    auto mem = std::make_shared<RevokingMemory>(ram.shared(), 0);
    make(false, mem);
    handler->answers_unmapped = false;
    offer({0});
    engine->process_available();
    EXPECT_FALSE(engine->broken());
    EXPECT_TRUE(started.empty());
    engine->publish();
    ASSERT_EQ(used()->idx, 1);
    EXPECT_EQ(used()->ring[0].len, 0u);
}

TEST_F(Engine, ResubmitsFromTheInflightArea) {
    // What a previous back-end left: heads 4 then 2 taken, neither used.
    auto area = std::make_shared<InflightArea>();
    std::vector<uint8_t> bytes(inflight_queue_stride(kSize));
    area->base = bytes.data();
    area->num_queues = 1;
    area->queue_size = kSize;
    {
        SplitInflight before(bytes.data(), kSize);
        EXPECT_FALSE(before.recover(0, 0));
        before.taken(4);
        before.taken(2);
    }
    offer({4, 2, 6});  // 6 was never taken
    make(false, nullptr, area);
    engine->process_available();
    ASSERT_EQ(started.size(), 3u);
    EXPECT_EQ(started[0].slot, 4);
    EXPECT_EQ(started[1].slot, 2);
    EXPECT_EQ(started[2].slot, 6);
    handler->finish(2, 0);
    engine->publish();
    // The area now says only 4 and 6 are in flight.
    SplitInflight after(bytes.data(), kSize);
    auto heads = after.recover(used()->idx, 0);
    ASSERT_TRUE(heads);
    EXPECT_EQ(*heads, (std::vector<uint16_t>{4, 6}));
}

TEST_F(Engine, StopReturnsTheNextAvailIndex) {
    make(false, nullptr, nullptr, 0);
    offer({0, 2, 4});
    engine->process_available();
    EXPECT_EQ(engine->stop(), 3);
    offer({6});
    engine->process_available();  // a stopped engine takes nothing more
    EXPECT_EQ(started.size(), 3u);
    EXPECT_EQ(engine->stop(), 3);
}

TEST_F(Engine, RemovedMemoryStopsTheQueue) {
    make(false);
    EXPECT_TRUE(engine->set_memory(nullptr));
    EXPECT_TRUE(engine->broken());
    EXPECT_TRUE(err_signalled());
}

}  // namespace
