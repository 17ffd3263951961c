#include "memory/iotlb.hpp"
#include "memory/iotlb_memory.hpp"
#include "memory/wait_work.hpp"
#include "ring_fixture.hpp"

#include <atomic>
#include <optional>
#include <gtest/gtest.h>
#include <thread>

using namespace xenvhost;
using namespace xenvhost::memory;
using namespace std::chrono_literals;

TEST(Iotlb, TranslatesWithinEntriesAndChecksPermissions) {
    auto t = std::make_shared<Iotlb>();
    t->update(0x10000, 0x2000, 0x7f0000000000, iotlb_perm::kRead);
    Iotlb::Fault f{};
    auto hit = t->translate(0x10800, 0x4000, iotlb_perm::kRead, f, 0ms);
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->uaddr, 0x7f0000000800u);
    EXPECT_EQ(hit->len, 0x1800u);  // short: the entry ends first
    EXPECT_FALSE(t->translate(0x10800, 16, iotlb_perm::kWrite, f, 0ms));
    EXPECT_EQ(f, Iotlb::Fault::kDenied);
    EXPECT_FALSE(t->translate(0x20000, 16, iotlb_perm::kRead, f, 0ms));
    EXPECT_EQ(f, Iotlb::Fault::kMiss);
}

TEST(Iotlb, UpdatesReplaceOverlapsAndInvalidateRemoves) {
    auto t = std::make_shared<Iotlb>();
    t->update(0x0, 0x4000, 0x100000, iotlb_perm::kReadWrite);
    t->update(0x1000, 0x1000, 0x900000, iotlb_perm::kReadWrite);
    EXPECT_EQ(t->size(), 1u);
    t->invalidate(0x1000, 0x1000);
    EXPECT_EQ(t->size(), 0u);
    t->update(0, 0, 0, 3);  // empty: ignored
    EXPECT_EQ(t->size(), 0u);
}

TEST(Iotlb, MissAsksOnceAndWaitsForTheUpdate) {
    auto t = std::make_shared<Iotlb>();
    std::atomic<int> misses{0};
    std::thread responder;
    t->set_miss_handler([&](uint64_t iova, uint8_t) {
        misses++;
        responder = std::thread([t, iova] {
            std::this_thread::sleep_for(20ms);
            t->update(iova & ~0xfffull, 0x1000, 0x5000000, iotlb_perm::kReadWrite);
        });
    });
    Iotlb::Fault f{};
    auto hit = t->translate(0x3004, 8, iotlb_perm::kRead, f, 2000ms);
    responder.join();
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->uaddr, 0x5000004u);
    EXPECT_EQ(misses.load(), 1);
}

// While a thread waits for a MISS answer, invalidations of other pages (a
// guest in strict mode sends them all the time) do not make it ask again; one
// that removes the page it waits for does.
TEST(Iotlb, AsksAgainOnlyWhenItsPageWasInvalidated) {
    for (bool same_page : {false, true}) {
        SCOPED_TRACE(same_page ? "same page invalidated" : "other pages invalidated");
        auto t = std::make_shared<Iotlb>();
        std::atomic<int> misses{0};
        t->set_miss_handler([&](uint64_t, uint8_t) { misses++; });
        std::thread front_end([&] {
            while (misses == 0) std::this_thread::sleep_for(1ms);
            // Fewer of its own page than the asks a translation makes (8).
            const int n = same_page ? 3 : 20;
            for (int i = 0; i < n; ++i) t->invalidate(same_page ? 0x7000 : 0x100000 + i * 0x1000, 0x1000);
            std::this_thread::sleep_for(20ms);
            t->update(0x7000, 0x1000, 0x9000000, iotlb_perm::kReadWrite);
        });
        Iotlb::Fault f{};
        auto hit = t->translate(0x7010, 8, iotlb_perm::kRead, f, 2000ms);
        front_end.join();
        ASSERT_TRUE(hit);
        if (same_page)
            EXPECT_GE(misses.load(), 2);
        else
            EXPECT_EQ(misses.load(), 1);
    }
}

TEST(Iotlb, InvalidateWaitsForRequestsUsingTheRange) {
    auto t = std::make_shared<Iotlb>();
    t->update(0x0, 0x10000, 0x100000, iotlb_perm::kReadWrite);
    auto lease = t->lease({{0x2000, 0x1000}});
    std::atomic<bool> done{false};
    std::thread inv([&] {
        t->invalidate(0x2800, 0x100);
        done = true;
    });
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(done.load());  // still in use
    lease.reset();
    inv.join();
    EXPECT_TRUE(done.load());
}

// A thread waiting for a MISS answer: an invalidation does not wait for its
// requests if it cannot finish them meanwhile (the answer may come only after
// the invalidation), and does wait for them when its WaitWork finishes them.
TEST(Iotlb, InvalidateAndAThreadWaitingForAMissAnswer) {
    for (bool with_work : {false, true}) {
        SCOPED_TRACE(with_work ? "with WaitWork" : "without WaitWork");
        auto t = std::make_shared<Iotlb>();
        t->update(0x0, 0x10000, 0x100000, iotlb_perm::kReadWrite);
        std::atomic<bool> asked{false}, invalidated{false}, released_first{false};
        t->set_miss_handler([&](uint64_t, uint8_t) { asked = true; });
        std::thread queue([&] {
            auto lease = t->lease({{0x2000, 0x1000}});  // a request in flight
            std::optional<WaitWork> work;
            if (with_work)
                work.emplace([&] {
                    // The in-flight request completes while the thread waits.
                    if (lease && asked) {
                        std::this_thread::sleep_for(20ms);
                        released_first = !invalidated;
                        lease.reset();
                    }
                });
            Iotlb::Fault f{};
            (void)t->translate(0x40000, 8, iotlb_perm::kRead, f, 400ms);  // never answered
            lease.reset();
        });
        while (!asked) std::this_thread::sleep_for(1ms);
        t->invalidate(0x2800, 0x100);
        invalidated = true;
        queue.join();
        // Without work the invalidation went ahead of the request; with it,
        // the request completed first.
        EXPECT_EQ(released_first.load(), with_work);
    }
}

TEST(IotlbMemory, TranslatesIovasThroughUserAddresses) {
    xenvhost::testing::GuestRam ram;  // region: gpa 0, uaddr 0x10000000, 1 MiB
    auto t = std::make_shared<Iotlb>();
    t->update(0xa0000000, 0x1000, 0x10000000 + 0x4000, iotlb_perm::kRead);
    t->update(0xb0000000, 0x1000, 0x10000000 + 0x8000, iotlb_perm::kReadWrite);
    auto mem = std::make_shared<IotlbMemory>(ram.mem().table(), t);
    ram.at(0x4010)[0] = 0x5a;
    uint8_t byte = 0;
    ASSERT_TRUE(mem->read(0xa0000010, {&byte, 1}));
    EXPECT_EQ(byte, 0x5a);
    MappedBuffers mb;
    GuestBuffer bufs[] = {{0xa0000000, 16, false}, {0xb0000000, 1, true}};
    ASSERT_TRUE(mem->map_buffers(bufs, mb));
    EXPECT_EQ(mb.out[0].iov_base, ram.at(0x4000));
    EXPECT_EQ(mb.in[0].iov_base, ram.at(0x8000));
    mb.release();
    GuestBuffer denied[] = {{0xa0000000, 16, true}};  // write to a read-only mapping
    auto r = mem->map_buffers(denied, mb);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::kMapFailure);  // fails the request, the queue runs on
}
