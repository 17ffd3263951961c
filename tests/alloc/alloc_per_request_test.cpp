// Heap allocations per request of every mapping strategy, counted (not
// inspected): one 4 KiB read as virtio-blk makes it (a 16-byte header the
// device reads, 4 KiB of data and a status byte it writes), mapped and
// released as a queue does for each request. Run under the Xen mapping
// double (LD_PRELOAD=libxendouble.so) so grant and foreign mappings are real.

#include "alloc/alloc_counter.hpp"
#include "frontend/xen_double_files.hpp"
#include "memory/foreign_region.hpp"
#include "memory/iotlb_memory.hpp"
#include "memory/plain_memory.hpp"
#include "memory/xen_memory.hpp"
#include "queue/queue_engine.hpp"
#include "unit/ring_fixture.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace xenvhost::testing {
namespace {

using memory::GuestBuffer;
constexpr uint32_t kDomid = 7;
constexpr uint64_t kPages = 16;
constexpr uint64_t kPage = 4096;
constexpr int kWarmup = 4;
constexpr int kRequests = 64;

// The three buffers of a 4 KiB read whose pages start at `base` (page 1: header, 2: data, 3: status).
std::array<GuestBuffer, 3> read_request(uint64_t base) {
    return {GuestBuffer{base + 1 * kPage, 16, false}, GuestBuffer{base + 2 * kPage, 4096, true},
            GuestBuffer{base + 3 * kPage + 100, 1, true}};
}

// Runs one request kWarmup times, then kRequests times counted; prints and
// returns allocations per request of the counted ones.
template <typename F>
double count_per_request(const char* what, F once) {
    for (int i = 0; i < kWarmup; ++i) once();
    const uint64_t before = allocations();
    for (int i = 0; i < kRequests; ++i) once();
    const double n = static_cast<double>(allocations() - before) / kRequests;
    std::printf("[ figures  ] %-26s %5.2f allocations per 4 KiB request (%s)\n",
                ::testing::UnitTest::GetInstance()->current_test_info()->name(), n, what);
    return n;
}

// Maps and releases the request as a queue does.
double per_request(const memory::GuestMemory& mem, std::span<const GuestBuffer> request) {
    memory::MappedBuffers bufs;
    return count_per_request("map + release", [&] {
        auto r = mem.map_buffers(request, bufs);
        EXPECT_TRUE(r) << r.error().message;
        EXPECT_EQ(bufs.out.size() + bufs.in.size(), 3u);
        bufs.release();
    });
}

class AllocPerRequest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/xenvhost-alloc-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        auto f = frontend::XenDoubleFiles::create(dir_, kPages, kDomid);
        ASSERT_TRUE(f) << f.error().message;
        files_.emplace(std::move(*f));
        files_->set_grants(0, kPages * kPage, xendouble::kGrantedWritable);
        files_->set_grant(1, xendouble::kGrantedReadOnly);
        for (const auto& [k, v] : files_->environment()) ::setenv(k.c_str(), v.c_str(), 1);
        // The double plays libxengnttab and libxenforeignmemory (which
        // allocate nothing for a batch this small); its own bookkeeping is
        // not the worker's.
        ASSERT_TRUE(ignore_library("libxendouble")) << "libxendouble.so is not preloaded";
    }
    void TearDown() override {
        files_.reset();
        if (!dir_.empty()) (void)!std::system(("rm -rf " + dir_).c_str());
    }
    memory::RegionDesc xen_desc(memory::XenRegionKind kind) const {
        memory::RegionDesc d;
        d.gpa = kind == memory::XenRegionKind::kGrant ? memory::kGrantAddressFlag : 0;
        d.size = kPages * kPage;
        d.kind = kind;
        d.no_advance_map = true;
        d.domid = kDomid;
        return d;
    }
    // Checks the double really mapped something (the library is preloaded).
    void expect_double_mapped() {
        EXPECT_GT(files_->counters().map_calls(), 0u) << "is libxendouble.so preloaded?";
    }

    std::string dir_;
    std::optional<frontend::XenDoubleFiles> files_;
};

TEST_F(AllocPerRequest, PlainMemory) {
    auto region = memory::Region::map_plain({0, kPages * kPage, 0x10000000, 0}, files_->memory_fd());
    ASSERT_TRUE(region) << region.error().message;
    auto mem = std::make_shared<memory::PlainMemory>(*memory::RegionTable::build({*region}));
    EXPECT_EQ(per_request(*mem, read_request(0)), 0.0);
}

TEST_F(AllocPerRequest, XenGrant) {
    auto grants = xen::GrantTable::open();
    ASSERT_TRUE(grants) << grants.error().message;
    auto table = memory::RegionTable::build({memory::Region::unmapped(xen_desc(memory::XenRegionKind::kGrant))});
    auto mem = std::make_shared<memory::XenMemory>(*table, memory::XenHandles{*grants, nullptr},
                                                   std::make_shared<memory::MapStats>());
    EXPECT_EQ(per_request(*mem, read_request(memory::kGrantAddressFlag)), 0.0);
    expect_double_mapped();
}

// Grant copy: copied in, "completed" (copied back), released, as a queue does.
TEST_F(AllocPerRequest, XenGrantCopy) {
    auto grants = xen::GrantTable::open();
    ASSERT_TRUE(grants) << grants.error().message;
    auto table = memory::RegionTable::build({memory::Region::unmapped(xen_desc(memory::XenRegionKind::kGrant))});
    auto stats = std::make_shared<memory::MapStats>();
    auto mem = std::make_shared<memory::XenMemory>(*table, memory::XenHandles{*grants, nullptr}, stats,
                                                   memory::GrantAccess::kCopy);
    const auto request = read_request(memory::kGrantAddressFlag);
    memory::MappedBuffers bufs;
    EXPECT_EQ(count_per_request("copy in + copy back + release",
                                [&] {
                                    auto r = mem->map_buffers(request, bufs);
                                    EXPECT_TRUE(r) << r.error().message;
                                    EXPECT_TRUE(bufs.finish());
                                    bufs.release();
                                }),
              0.0);
    EXPECT_EQ(stats->map_calls.load(), 0u);
    EXPECT_EQ(stats->copy_calls.load(), 2u * (kWarmup + kRequests));
}

TEST_F(AllocPerRequest, XenGrantPerAccess) {
    auto grants = xen::GrantTable::open();
    ASSERT_TRUE(grants) << grants.error().message;
    auto table = memory::RegionTable::build({memory::Region::unmapped(xen_desc(memory::XenRegionKind::kGrant))});
    auto stats = std::make_shared<memory::MapStats>();
    auto mem = std::make_shared<memory::XenMemory>(*table, memory::XenHandles{*grants, nullptr}, stats,
                                                   memory::GrantAccess::kPerAccess);
    EXPECT_EQ(per_request(*mem, read_request(memory::kGrantAddressFlag)), 0.0);
    EXPECT_EQ(stats->map_calls.load(), 3u * (kWarmup + kRequests));
}

TEST_F(AllocPerRequest, XenForeignPerRequest) {
    auto foreign = xen::ForeignMemory::open();
    ASSERT_TRUE(foreign) << foreign.error().message;
    ASSERT_TRUE((*foreign)->restrict_to(kDomid));
    auto table = memory::RegionTable::build({memory::Region::unmapped(xen_desc(memory::XenRegionKind::kForeign))});
    auto mem = std::make_shared<memory::XenMemory>(*table, memory::XenHandles{nullptr, *foreign},
                                                   std::make_shared<memory::MapStats>());
    EXPECT_EQ(per_request(*mem, read_request(0)), 0.0);
    expect_double_mapped();
}

TEST_F(AllocPerRequest, XenForeignWhole) {
    auto foreign = xen::ForeignMemory::open();
    ASSERT_TRUE(foreign) << foreign.error().message;
    auto desc = xen_desc(memory::XenRegionKind::kForeign);
    desc.no_advance_map = false;
    auto stats = std::make_shared<memory::MapStats>();
    auto region = memory::map_foreign_whole(desc, *foreign, stats);
    ASSERT_TRUE(region) << region.error().message;
    auto mem = std::make_shared<memory::XenMemory>(*memory::RegionTable::build({*region}),
                                                   memory::XenHandles{nullptr, *foreign}, stats);
    EXPECT_EQ(per_request(*mem, read_request(0)), 0.0);
    EXPECT_EQ(stats->map_calls.load(), 1u);  // the region's own map, none per request
    expect_double_mapped();
}

TEST_F(AllocPerRequest, Iotlb) {
    constexpr uint64_t kUaddr = 0x7f0000000000;
    constexpr uint64_t kIova = 0x40000000;
    auto region = memory::Region::map_plain({0, kPages * kPage, kUaddr, 0}, files_->memory_fd());
    ASSERT_TRUE(region) << region.error().message;
    auto iotlb = std::make_shared<memory::Iotlb>();
    iotlb->update(kIova, kPages * kPage, kUaddr, memory::iotlb_perm::kReadWrite);
    auto mem = std::make_shared<memory::IotlbMemory>(*memory::RegionTable::build({*region}), iotlb);
    EXPECT_EQ(per_request(*mem, read_request(kIova)), 0.0);
}

// A device that completes every request as it starts.
class AtOnce final : public devices::QueueHandler {
public:
    void start(uint16_t slot, const devices::Request& req, devices::CompletionSink& sink) override {
        sink.complete(slot, static_cast<uint32_t>(req.in.size()));
    }
    void flush() override {}
    int completion_fd() const override { return -1; }
    void reap(devices::CompletionSink&) override {}
    unsigned in_flight() const override { return 0; }
};

// The engine's own path (take, walk, map, start, complete, publish) on plain memory.
TEST(AllocPerRequestEngine, EnginePath) {
    constexpr uint16_t kSize = 8;
    constexpr virtio::RingAddresses kAddrs{0x1000, 0x2000, 0x3000};
    GuestRam ram;
    ram.set_desc(kAddrs.desc, 0, 0x10000, 16, virtio::kDescFNext, 1);
    ram.set_desc(kAddrs.desc, 1, 0x11000, 4096, virtio::kDescFNext | virtio::kDescFWrite, 2);
    ram.set_desc(kAddrs.desc, 2, 0x12000, 1, virtio::kDescFWrite);
    auto ring = virtio::SplitRing::map(ram.mem(), kSize, kAddrs, true, 0);
    ASSERT_TRUE(ring);
    queue::QueueStats stats;
    queue::QueueEngine engine(std::move(*ring), queue::EngineSetup{}, ram.shared(), std::make_unique<AtOnce>(), stats);
    auto* avail = ram.as<virtio::Avail>(kAddrs.avail);
    const double n = count_per_request("take, walk, map, complete, publish", [&] {
        avail->ring[avail->idx % kSize] = 0;
        ++avail->idx;
        engine.process_available();
        engine.publish();
    });
    EXPECT_EQ(stats.requests.load(), uint64_t{kWarmup + kRequests});
    EXPECT_EQ(ram.as<virtio::Used>(kAddrs.used)->idx, kWarmup + kRequests);
    EXPECT_EQ(n, 0.0);
}

}  // namespace
}  // namespace xenvhost::testing
