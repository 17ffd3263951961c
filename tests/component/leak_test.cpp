// Leak tests: thousands of connect/disconnect cycles and memory-table
// replacements must leave the worker's open fds, its mappings and its
// resident memory where they were after a warm-up. Each test prints a
// "LEAK ..." line with its figures.
#include "fixture.hpp"
#include "leak_probe.hpp"

#include <fmt/core.h>

#include <chrono>
#include <iostream>

namespace xenvhost::component {
namespace {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;

constexpr uint64_t MiB = 1ull << 20;

// Cycles that run before the first reading, so that what the worker sets up
// once and keeps (glibc's per-thread malloc arenas, its cache of thread
// stacks, io_uring buffers, lazily grown vectors) is in place by then.
constexpr unsigned kWarmup = 200;
// Also under ASan (the sanitize level), where both tests take 15-30 s.
constexpr unsigned kCycles = 10000;

// Resident memory may grow this much between the readings without counting
// as a leak: glibc keeps freed memory in its arenas and trims them
// lazily, so RSS can differ between identical states (it stays within
// 0.1 MiB here). A leak of 256 bytes a cycle exceeds 2 MiB in 10000 cycles.
constexpr uint64_t kRssSlackKib = 2048;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// Small guest memory and few slots: the cost of a cycle is the protocol.
SessionOptions small_session(bool two_regions) {
    SessionOptions o = default_session();
    o.queue_size = 64;
    o.blk.depth = 4;
    o.blk.max_data = 64 * 1024;
    if (two_regions) {
        o.regions = {{0, 2 * MiB}, {16 * MiB, 2 * MiB}};
        o.ring_region = 1;
        o.blk.region = 0;
    } else {
        o.memory_size = 4 * MiB;
    }
    return o;
}

class LeakTest : public BackendTest {
protected:
    BackendConfig config() const override {
        BackendConfig c;
        c.num_queues = 1;
        return c;
    }

    void SetUp() override {
        BackendTest::SetUp();
        if (HasFatalFailure()) return;
        // The bounds are the worker's; qemu-storage-daemon is not under test.
        if (!is_worker()) GTEST_SKIP() << "leak figures are checked for the worker only";
    }

    // Fails on any growth of fds or maps, or RSS growth past the slack;
    // prints the figures line either way.
    void check(const std::string& what, const ProcessFigures& before, const ProcessFigures& after,
               double secs) {
        std::cout << "LEAK " << what << " " << describe_change(before, after)
                  << fmt::format(" time {:.1f} s", secs) << std::endl;
        EXPECT_LE(after.fds, before.fds) << what << ": the worker's open fds grew";
        EXPECT_LE(after.maps, before.maps) << what << ": the worker's mappings grew";
        if (leak_check_rss()) {
            EXPECT_LE(after.rss_kib, before.rss_kib + kRssSlackKib)
                << what << ": the worker's resident memory grew by more than " << kRssSlackKib
                << " KiB";
        }
    }

    // The data of the verified requests stays in the image's first 8 MiB;
    // requests abandoned in flight write to the next 6 MiB (unchecked), and
    // expect_serves() owns the last MiB.
    uint64_t verified_sector(unsigned cycle) const { return (cycle % 2048) * 8; }
    uint64_t abandoned_sector(unsigned cycle) const { return 16384 + (cycle % 96) * 128; }

    void clean_cycle(unsigned i, bool two_regions, bool stop_rings);
    void cut_in_negotiation(unsigned i);
    void cut_after_mem_table(unsigned i);
    void cut_with_request_in_flight(unsigned i);
};

// Connects, brings the ring up, does one verified request, disconnects
// (after stopping the rings as QEMU does on a clean shutdown, or not).
void LeakTest::clean_cycle(unsigned i, bool two_regions, bool stop_rings) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(small_session(two_regions)));
    verified_io(s->blk(0), verified_sector(i), 4096, 0x1eaf0000 + i);
    if (HasFatalFailure()) return;
    if (stop_rings) ASSERT_OK(s->stop());
}

// The front-end goes away in the middle of the negotiation: after 0 to 3
// complete exchanges, with a request unanswered or half a header sent.
void LeakTest::cut_in_negotiation(unsigned i) {
    Connection conn;
    ASSERT_OK_AND_ASSIGN(conn, Connection::connect(socket_, 5000));
    VhostClient c(std::move(conn));
    unsigned done = (i / 6) % 4;
    if (done > 0) ASSERT_OK(c.get_features());
    if (done > 1) {
        uint64_t offered;
        ASSERT_OK_AND_ASSIGN(offered, c.get_protocol_features());
        ASSERT_OK(c.set_protocol_features(offered & supported_protocol_features()));
    }
    if (done > 2) ASSERT_OK(c.set_owner());
    if ((i / 24) % 2 == 0) {
        ASSERT_OK(c.connection().send(static_cast<uint32_t>(Request::kGetQueueNum), vu::kVersion, {}));
    } else {
        vu::Header h{static_cast<uint32_t>(Request::kGetQueueNum), vu::kVersion, 0};
        ASSERT_OK(c.connection().send_raw(
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&h), sizeof h / 2)));
    }
}

// Negotiated, features set, then SET_MEM_TABLE with two memfds sent and the
// connection closed before the answer: the worker receives the fds (or the
// kernel drops them with the socket) and must close them either way.
void LeakTest::cut_after_mem_table(unsigned i) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, connect(small_session(false)));
    uint64_t want = supported_blk_features() | vu::bit(vu::kFeatureProtocolFeatures);
    ASSERT_OK(s->client().set_features(s->offered_features() & want));
    GuestMemory mem;
    std::vector<RegionLayout> layout = {{0, 2 * MiB}, {16 * MiB, (1 + i % 2) * MiB}};
    ASSERT_OK_AND_ASSIGN(mem, GuestMemory::create(layout));
    std::vector<RegionMessage> regions;
    std::vector<int> fds;
    for (const auto& r : mem.regions()) {
        regions.push_back(region_message(r));
        fds.push_back(r.fd.get());
    }
    ASSERT_OK(s->client().connection().send(static_cast<uint32_t>(Request::kSetMemTable),
                                            vu::kVersion | vu::kFlagNeedReply,
                                            encode_mem_table(regions, RegionFormat::kPlain), fds));
}

// A running ring with writes published and kicked, and the front-end gone
// before they complete.
void LeakTest::cut_with_request_in_flight(unsigned i) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(small_session(i % 2 == 0)));
    auto data = random_bytes(i, 64 * 1024);
    for (unsigned k = 0; k < 4; ++k)
        ASSERT_OK(s->blk(0).submit(BlkCommand::out(abandoned_sector(i) + k * 128, data)));
    s->blk(0).flush();
}

TEST_F(LeakTest, ConnectDisconnectCycles) {
    unsigned cycles;
    ASSERT_OK_AND_ASSIGN(cycles, leak_cycles(kCycles));
    ProcessFigures before;
    Clock::time_point start;
    for (unsigned i = 0; i < kWarmup + cycles; ++i) {
        if (i == kWarmup) {
            ASSERT_OK_AND_ASSIGN(before, settled_figures(backend_->pid()));
            start = Clock::now();
        }
        SCOPED_TRACE(fmt::format("cycle {}", i));
        switch (i % 6) {
            case 0: clean_cycle(i, false, true); break;
            case 1: clean_cycle(i, false, false); break;
            case 2: cut_in_negotiation(i); break;
            case 3: cut_after_mem_table(i); break;
            case 4: cut_with_request_in_flight(i); break;
            case 5: clean_cycle(i, true, false); break;
        }
        if (HasFatalFailure()) return;
    }
    double secs = seconds_since(start);
    ProcessFigures after;
    ASSERT_OK_AND_ASSIGN(after, settled_figures(backend_->pid(), before));
    check(fmt::format("connect-cycles={}", cycles), before, after, secs);
    expect_serves();
}

// One connection, rings running. Each cycle replaces the memory table with
// the ring region and one or two new memfd regions of 2, 4 or 6 MiB; where
// CONFIGURE_MEM_SLOTS is negotiated, every fourth cycle instead adds a
// region with ADD_MEM_REG and removes it with REM_MEM_REG. Every 50th cycle
// does verified requests, one with its data in the newest region.
class MemTableLeakTest : public LeakTest {
protected:
    static constexpr unsigned kVerifyEvery = 50;
    static constexpr uint64_t kExtraGpa = 1ull << 30;
    static constexpr uint64_t kHotplugGpa = 4ull << 30;

    uint64_t extra_size(unsigned i, unsigned k) const { return (2 + 2 * ((i + k) % 3)) * MiB; }

    // A request with its data buffer in region `index`, written, checked in
    // the image file, read back into the zeroed buffer.
    void verified_in_region(size_t index, unsigned i) {
        GuestMemory& mem = s_->memory();
        uint64_t gpa;
        ASSERT_OK_AND_ASSIGN(gpa, mem.alloc(16384, 4096, index));
        uint64_t sector = verified_sector(i);
        auto data = random_bytes(0x7ab1e000 + i, 16384);
        BlkCommand w = BlkCommand::out(sector, data);
        w.data_gpa = gpa;
        BlkCompletion c;
        ASSERT_OK_AND_ASSIGN(c, s_->blk(0).run(w));
        ASSERT_EQ(c.status, VIRTIO_BLK_S_OK) << "write with its data in region " << index;
        ASSERT_EQ(first_difference(file_bytes(sector * kSectorSize, data.size()), data), -1);
        ASSERT_OK(mem.fill(gpa, data.size(), 0));
        BlkCommand r = BlkCommand::in(sector, 16384);
        r.data_gpa = gpa;
        std::vector<uint8_t> back;
        ASSERT_OK_AND_ASSIGN(c, s_->blk(0).run(r, &back));
        ASSERT_EQ(c.status, VIRTIO_BLK_S_OK) << "read with its data in region " << index;
        ASSERT_EQ(first_difference(back, data), -1);
    }

    // Sends a table of the ring region and new extra regions, then drops
    // the previous extras (mapped until now, so the new regions cannot
    // reuse their addresses while the worker still has them).
    void replace_table(unsigned i) {
        GuestMemory& mem = s_->memory();
        size_t old_extras = mem.regions().size() - 1;
        unsigned n = 1 + i % 2;
        std::vector<RegionMessage> table = {region_message(mem.regions()[0])};
        // Away from the previous extras, which are still in this process's table.
        uint64_t base = kExtraGpa + (++generation_ % 2) * kExtraGpa;
        for (unsigned k = 0; k < n; ++k) {
            size_t idx;
            ASSERT_OK_AND_ASSIGN(idx, mem.add_region({base + k * 64 * MiB, extra_size(i, k)}));
            table.push_back(region_message(mem.regions()[idx]));
        }
        ASSERT_OK(s_->client().set_mem_table(table));
        for (size_t k = 0; k < old_extras; ++k) ASSERT_OK(mem.remove_region(1));
        if (i % kVerifyEvery == 0) {
            verified_io(s_->blk(0), verified_sector(i) + 4096, 4096, 0x5107 + i);
            if (HasFatalFailure()) return;
            verified_in_region(mem.regions().size() - 1, i);
        }
    }

    void add_and_remove(unsigned i) {
        GuestMemory& mem = s_->memory();
        size_t idx;
        ASSERT_OK_AND_ASSIGN(idx, mem.add_region({kHotplugGpa, extra_size(i, 0)}));
        ASSERT_OK(s_->client().add_mem_reg(region_message(mem.regions()[idx])));
        if (i % kVerifyEvery == 3) verified_in_region(idx, i);
        if (HasFatalFailure()) return;
        ASSERT_OK(s_->client().rem_mem_reg(region_message(mem.regions()[idx])));
        ASSERT_OK(mem.remove_region(idx));
    }

    // The same state at both readings: the table holds the ring region only.
    Result<ProcessFigures> reading(const ProcessFigures* target) {
        GuestMemory& mem = s_->memory();
        std::vector<RegionMessage> table = {region_message(mem.regions()[0])};
        if (auto r = s_->client().set_mem_table(table); !r) return std::unexpected(r.error());
        while (mem.regions().size() > 1)
            if (auto r = mem.remove_region(1); !r) return std::unexpected(r.error());
        return target ? settled_figures(backend_->pid(), *target)
                      : settled_figures(backend_->pid());
    }

    std::unique_ptr<BlkSession> s_;
    unsigned generation_ = 0;
};

TEST_F(MemTableLeakTest, MemoryTableReplacements) {
    unsigned cycles;
    ASSERT_OK_AND_ASSIGN(cycles, leak_cycles(kCycles));
    SessionOptions o = small_session(false);
    o.memory_size = 8 * MiB;
    ASSERT_OK_AND_ASSIGN(s_, open(o));
    bool slots = s_->has_protocol(pf::kConfigureMemSlots);
    // The worker offers CONFIGURE_MEM_SLOTS; the hot-plug cycles need 4 slots.
    ASSERT_TRUE(slots) << "CONFIGURE_MEM_SLOTS not negotiated";
    ASSERT_GE(s_->max_mem_slots(), 4u);
    ProcessFigures before;
    Clock::time_point start;
    unsigned replaced = 0, hotplugged = 0;
    for (unsigned i = 0; i < kWarmup + cycles; ++i) {
        if (i == kWarmup) {
            ASSERT_OK_AND_ASSIGN(before, reading(nullptr));
            start = Clock::now();
            replaced = hotplugged = 0;
        }
        SCOPED_TRACE(fmt::format("cycle {}", i));
        if (i % 4 == 3) {
            add_and_remove(i);
            ++hotplugged;
        } else {
            replace_table(i);
            ++replaced;
        }
        if (HasFatalFailure()) return;
    }
    double secs = seconds_since(start);
    ProcessFigures after;
    ASSERT_OK_AND_ASSIGN(after, reading(&before));
    verified_io(s_->blk(0), 0, 4096, 0xe4d);
    check(fmt::format("mem-table-cycles={} (set-mem-table={} add+rem-mem-reg={})", cycles, replaced,
                      hotplugged),
          before, after, secs);
    s_.reset();
    expect_serves();
}

}  // namespace
}  // namespace xenvhost::component
