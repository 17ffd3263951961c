// The memory table xenvhost-dm's front-end sends: foreign mode (one 0x1
// region per RAM range at its guest-physical address) and grant mode (the
// grant space cut into ring regions the back-end may map in advance, 0x2,
// and "no advance map" gaps, 0x2|0x8), and the ring checks that refuse a
// guest's rings outside that memory as a guest fault.

#include "frontend/grant_layout.hpp"
#include "frontend/memory_table.hpp"
#include "frontend/region_devices.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace xenvhost;
using namespace xenvhost::vhost_frontend;
using transport::QueueConfig;

namespace {

namespace flag = vhost_user::xen_mmap_flag;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kBase = kGrantSpaceBase;
constexpr uint64_t kSpace = uint64_t{64} * 512 * kPage;  // what xenvhost-dm declares
constexpr uint32_t kDomid = 7;
constexpr uint32_t kNoAdvance = flag::kGrant | flag::kNoAdvanceMapDeployed;

// A split ring as Linux lays it out: descriptors, avail, used (4-aligned) in one piece.
QueueConfig linux_ring(uint16_t index, uint64_t at, uint16_t size = 128) {
    const uint64_t avail = at + 16ull * size;
    const uint64_t used = (avail + 6 + 2ull * size + 3) & ~uint64_t{3};
    return {index, size, at, avail, used};
}

// /dev/null stands in for both devices (no restriction: one warning, so opened once).
std::shared_ptr<const RegionDevices> stand_ins() {
    static const auto devices = RegionDevices::open("/dev/null", "/dev/null", kDomid);
    return devices;
}

FrontendConfig foreign_config() {
    FrontendConfig c;
    c.domid = kDomid;
    c.ram = {{0, 0xa0000}, {0x100000, 0x1f00000}};
    c.region_devices = stand_ins();
    return c;
}

FrontendConfig grant_config(uint64_t space = kSpace) {
    FrontendConfig c;
    c.domid = kDomid;
    c.region_kind = RegionKind::kGrant;
    c.grant_space_size = space;
    c.region_devices = stand_ins();
    return c;
}

MemoryTable build_ok(const FrontendConfig& c, const std::vector<QueueConfig>& queues) {
    auto t = MemoryTable::build(c, queues);
    EXPECT_TRUE(t) << t.error().message;
    return t ? std::move(*t) : MemoryTable{};
}

ErrorKind build_error(const FrontendConfig& c, const std::vector<QueueConfig>& queues) {
    auto t = MemoryTable::build(c, queues);
    EXPECT_FALSE(t) << "table built";
    return t ? ErrorKind::kInternal : t.error().kind;
}

bool contains(const vhost_user::XenMemoryRegion& r, uint64_t addr, uint64_t len) {
    return addr >= r.base.guest_phys_addr && addr + len <= r.base.guest_phys_addr + r.base.memory_size;
}

// What every grant table must be: the whole space in order, page aligned,
// ring regions and gaps alternating, every ring area inside a ring region,
// at most one SET_MEM_TABLE's worth.
void expect_grant_table(const MemoryTable& t, const std::vector<QueueConfig>& queues, uint64_t space = kSpace) {
    const auto regions = t.regions();
    ASSERT_FALSE(regions.empty());
    EXPECT_LE(regions.size(), vhost_user::kMaxFds);
    uint64_t cursor = kBase;
    for (size_t i = 0; i < regions.size(); ++i) {
        const auto& r = regions[i];
        EXPECT_EQ(r.base.guest_phys_addr, cursor) << "region " << i << " leaves a hole or overlaps";
        EXPECT_EQ(r.base.user_addr, r.base.guest_phys_addr) << "region " << i;
        EXPECT_EQ(r.base.mmap_offset, 0u);
        EXPECT_GT(r.base.memory_size, 0u) << "region " << i;
        EXPECT_EQ(r.base.guest_phys_addr % kPage, 0u) << "region " << i;
        EXPECT_EQ(r.base.memory_size % kPage, 0u) << "region " << i;
        EXPECT_TRUE(r.xen_mmap_flags == flag::kGrant || r.xen_mmap_flags == kNoAdvance)
            << "region " << i << " flags " << r.xen_mmap_flags;
        EXPECT_EQ(r.domid, kDomid);
        if (i > 0) {
            EXPECT_NE(r.xen_mmap_flags, regions[i - 1].xen_mmap_flags) << "regions " << i - 1 << "/" << i;
        }
        cursor = r.base.guest_phys_addr + r.base.memory_size;
    }
    EXPECT_EQ(cursor, kBase + space) << "the grant space is not covered to its end";
    for (const auto& q : queues)
        for (const RingArea& a : ring_areas(q)) {
            bool found = false;
            for (const auto& r : regions) found = found || (r.xen_mmap_flags == flag::kGrant && contains(r, a.addr, a.len));
            EXPECT_TRUE(found) << "queue " << q.index << ": ring area " << std::hex << a.addr << "+" << a.len
                               << " is not in one region mapped in advance";
        }
}

// ------------------------------------------------------------- layout

TEST(FrontendMemoryTable, LayoutRefusals) {
    EXPECT_TRUE(check_layout(foreign_config()));
    auto bad = [](std::vector<RamRange> ram) {
        FrontendConfig c = foreign_config();
        c.ram = std::move(ram);
        auto r = check_layout(c);
        return !r && r.error().kind == ErrorKind::kPolicy;
    };
    EXPECT_TRUE(bad({}));
    EXPECT_TRUE(bad({{0x1000, 0}}));
    EXPECT_TRUE(bad({{0x800, 0x1000}}));
    EXPECT_TRUE(bad({{0, 0x1800}}));
    EXPECT_TRUE(bad({{0x100000, 0x1000}, {0, 0x1000}}));       // out of order
    EXPECT_TRUE(bad({{0, 0x200000}, {0x100000, 0x200000}}));  // overlapping
    EXPECT_TRUE(bad({{UINT64_MAX & ~(kPage - 1), 0x2000}}));  // wraps
    std::vector<RamRange> nine;
    for (uint64_t i = 0; i < 9; ++i) nine.push_back({i * 0x10000, 0x1000});
    EXPECT_TRUE(bad(nine));
    nine.pop_back();
    EXPECT_FALSE(bad(nine)) << "8 ranges fit one table";

    for (uint64_t space : {uint64_t{0}, uint64_t{0x800}, kSpace + 1, kMaxGrantSpace + kPage, kBase, UINT64_MAX}) {
        auto r = check_layout(grant_config(space));
        EXPECT_FALSE(r) << "grant space " << space;
        if (!r) {
            EXPECT_EQ(r.error().kind, ErrorKind::kPolicy);
        }
    }
    EXPECT_TRUE(check_layout(grant_config(kMaxGrantSpace)));
    FrontendConfig no_ram = grant_config();
    no_ram.ram.clear();
    EXPECT_TRUE(check_layout(no_ram)) << "grant mode needs no RAM ranges";
}

// ------------------------------------------------------------- foreign

TEST(FrontendMemoryTable, ForeignIsOneRegionPerRamRange) {
    const FrontendConfig c = foreign_config();
    const MemoryTable t = build_ok(c, {linux_ring(0, 0x200000)});
    ASSERT_EQ(t.regions().size(), 2u) << "the hole is no region";
    for (size_t i = 0; i < 2; ++i) {
        const auto& r = t.regions()[i];
        EXPECT_EQ(r.base.guest_phys_addr, c.ram[i].gpa);
        EXPECT_EQ(r.base.user_addr, c.ram[i].gpa);
        EXPECT_EQ(r.base.memory_size, c.ram[i].size);
        EXPECT_EQ(r.base.mmap_offset, 0u);
        EXPECT_EQ(r.xen_mmap_flags, flag::kForeign);
        EXPECT_EQ(r.domid, kDomid);
    }
}

TEST(FrontendMemoryTable, ForeignRingsOutsideRamAreGuestFaults) {
    const FrontendConfig c = foreign_config();
    const uint64_t ram_end = 0x100000 + 0x1f00000;
    for (uint64_t at : {uint64_t{0xa0000}, uint64_t{0x9ff00}, uint64_t{0xff800}, ram_end - 0x100, ram_end,
                        kBase | 0x200000, UINT64_MAX - 0x100}) {
        const std::vector<QueueConfig> q{linux_ring(0, at)};
        EXPECT_EQ(build_error(c, q), ErrorKind::kGuestFault) << std::hex << at;
        auto r = check_rings(c, q);
        EXPECT_FALSE(r) << std::hex << at;
    }
    // One ring part alone outside RAM is enough.
    QueueConfig q = linux_ring(0, 0x200000);
    q.device = 0xa0000;
    EXPECT_EQ(build_error(c, {q}), ErrorKind::kGuestFault);
    // The first queue is good, the second is not.
    EXPECT_EQ(build_error(c, {linux_ring(0, 0x200000), linux_ring(1, 0xa0000)}), ErrorKind::kGuestFault);
    // Rings at both ends of a range are inside.
    EXPECT_TRUE(check_rings(c, std::vector{linux_ring(0, 0), linux_ring(1, ram_end - kPage)}));
}

TEST(FrontendMemoryTable, ForeignRingAcrossAdjacentRangesIsRefused) {
    // The back-end maps a ring area through one region: one that spans two
    // (even adjacent) ranges is refused rather than half mapped.
    FrontendConfig c = foreign_config();
    c.ram = {{0, 0x100000}, {0x100000, 0x100000}};
    EXPECT_EQ(build_error(c, {linux_ring(0, 0x100000 - 0x400)}), ErrorKind::kGuestFault);
    // Each area inside one range is fine, whichever range.
    EXPECT_TRUE(check_rings(c, std::vector{linux_ring(0, 0x100000 - 0x800)}));
}

// --------------------------------------------------------------- grant

TEST(FrontendMemoryTable, GrantRingInItsOwnAdvanceRegion) {
    const auto q = linux_ring(0, kBase + 0x5000 + 0x40, 256);  // not page aligned, two pages long
    const MemoryTable t = build_ok(grant_config(), {q});
    ASSERT_NO_FATAL_FAILURE(expect_grant_table(t, {q}));
    ASSERT_EQ(t.regions().size(), 3u);
    const auto& ring = t.regions()[1];
    EXPECT_EQ(ring.xen_mmap_flags, flag::kGrant);
    EXPECT_EQ(ring.base.guest_phys_addr, kBase + 0x5000);
    EXPECT_EQ(ring.base.memory_size, 2 * kPage);
    EXPECT_EQ(t.regions()[0].xen_mmap_flags, kNoAdvance);
    EXPECT_EQ(t.regions()[2].xen_mmap_flags, kNoAdvance);
}

TEST(FrontendMemoryTable, GrantRingsAtTheEdgesOfTheSpace) {
    const auto first = linux_ring(0, kBase);
    const MemoryTable a = build_ok(grant_config(), {first});
    ASSERT_NO_FATAL_FAILURE(expect_grant_table(a, {first}));
    EXPECT_EQ(a.regions().size(), 2u);
    EXPECT_EQ(a.regions()[0].xen_mmap_flags, flag::kGrant);

    const auto last = linux_ring(0, kBase + kSpace - kPage);
    const MemoryTable b = build_ok(grant_config(), {last});
    ASSERT_NO_FATAL_FAILURE(expect_grant_table(b, {last}));
    EXPECT_EQ(b.regions().size(), 2u);
    EXPECT_EQ(b.regions()[1].xen_mmap_flags, flag::kGrant);

    // A space of one page that is all ring.
    const MemoryTable c = build_ok(grant_config(kPage), {first});
    ASSERT_NO_FATAL_FAILURE(expect_grant_table(c, {first}, kPage));
    EXPECT_EQ(c.regions().size(), 1u);
}

TEST(FrontendMemoryTable, GrantRingsOutsideTheSpaceAreGuestFaults) {
    const FrontendConfig c = grant_config();
    for (uint64_t at : {uint64_t{0x200000},                // a guest-physical address, not a grant address
                        kBase - kPage, kBase + kSpace,     // just outside
                        kBase + kSpace - 0x100,            // straddles the end
                        UINT64_MAX - 0x100}) {
        const std::vector<QueueConfig> q{linux_ring(0, at)};
        EXPECT_EQ(build_error(c, q), ErrorKind::kGuestFault) << std::hex << at;
    }
    QueueConfig q = linux_ring(0, kBase + 0x10000);
    q.driver = 0x10000;  // the avail ring alone given as a guest-physical address
    EXPECT_EQ(build_error(c, {q}), ErrorKind::kGuestFault);
}

TEST(FrontendMemoryTable, GrantTouchingAndOverlappingRingsShareARegion) {
    // Adjacent pages, the same page, and one queue's areas inside another's.
    const std::vector<QueueConfig> adjacent{linux_ring(0, kBase + 0x10000), linux_ring(1, kBase + 0x11000)};
    const MemoryTable a = build_ok(grant_config(), adjacent);
    ASSERT_NO_FATAL_FAILURE(expect_grant_table(a, adjacent));
    EXPECT_EQ(a.regions().size(), 3u);
    EXPECT_EQ(a.regions()[1].base.memory_size, 2 * kPage);

    const std::vector<QueueConfig> same_page{linux_ring(0, kBase + 0x10000, 16), linux_ring(1, kBase + 0x10800, 16)};
    const MemoryTable b = build_ok(grant_config(), same_page);
    ASSERT_NO_FATAL_FAILURE(expect_grant_table(b, same_page));
    EXPECT_EQ(b.regions().size(), 3u);
    EXPECT_EQ(b.regions()[1].base.memory_size, kPage);

    const std::vector<QueueConfig> overlapping{linux_ring(0, kBase + 0x10000, 256), linux_ring(1, kBase + 0x10100, 16)};
    const MemoryTable c = build_ok(grant_config(), overlapping);
    ASSERT_NO_FATAL_FAILURE(expect_grant_table(c, overlapping));
    EXPECT_EQ(c.regions().size(), 3u);

    // Given in any order, the table is the same.
    const std::vector<QueueConfig> reversed{adjacent[1], adjacent[0]};
    const MemoryTable d = build_ok(grant_config(), reversed);
    ASSERT_EQ(d.regions().size(), a.regions().size());
    for (size_t i = 0; i < a.regions().size(); ++i)
        EXPECT_EQ(d.regions()[i].base.guest_phys_addr, a.regions()[i].base.guest_phys_addr);
}

TEST(FrontendMemoryTable, GrantQueueWithScatteredPartsIsOneSpan) {
    // Not Linux's layout: descriptors, avail and used far apart. The span
    // from the first to the last is one ring region.
    const QueueConfig q{0, 64, kBase + 0x40000, kBase + 0x10000, kBase + 0x80000};
    const MemoryTable t = build_ok(grant_config(), {q});
    ASSERT_NO_FATAL_FAILURE(expect_grant_table(t, {q}));
    ASSERT_EQ(t.regions().size(), 3u);
    EXPECT_EQ(t.regions()[1].base.guest_phys_addr, kBase + 0x10000);
    EXPECT_EQ(t.regions()[1].base.memory_size, 0x71000u);
}

TEST(FrontendMemoryTable, GrantThreeScatteredQueuesFitUnmerged) {
    std::vector<QueueConfig> q;
    for (uint16_t i = 0; i < 3; ++i) q.push_back(linux_ring(i, kBase + (i + 1) * 0x100000));
    const MemoryTable t = build_ok(grant_config(), q);
    ASSERT_NO_FATAL_FAILURE(expect_grant_table(t, q));
    EXPECT_EQ(t.regions().size(), 7u);
    for (size_t i = 1; i < 7; i += 2) EXPECT_EQ(t.regions()[i].base.memory_size, kPage) << "ring region " << i;
}

TEST(FrontendMemoryTable, GrantManyScatteredQueuesMergeTheSmallestGaps) {
    // 4 queues, 9 spans: the one-page gap between the first two goes, the
    // large gaps stay "no advance map".
    std::vector<QueueConfig> q{linux_ring(0, kBase + 10 * kPage), linux_ring(1, kBase + 12 * kPage),
                               linux_ring(2, kBase + 1000 * kPage), linux_ring(3, kBase + 5000 * kPage)};
    const MemoryTable t = build_ok(grant_config(), q);
    ASSERT_NO_FATAL_FAILURE(expect_grant_table(t, q));
    ASSERT_EQ(t.regions().size(), 7u);
    EXPECT_EQ(t.regions()[1].base.guest_phys_addr, kBase + 10 * kPage);
    EXPECT_EQ(t.regions()[1].base.memory_size, 3 * kPage);
    EXPECT_EQ(t.regions()[1].xen_mmap_flags, flag::kGrant);
    for (uint64_t page : {uint64_t{0}, uint64_t{500}, uint64_t{3000}, uint64_t{9000}})
        for (const auto& r : t.regions())
            if (contains(r, kBase + page * kPage, kPage)) {
                EXPECT_EQ(r.xen_mmap_flags, kNoAdvance) << "page " << page;
            }

    // Exactly 8 spans (the first ring at the start of the space): nothing merged.
    q[0] = linux_ring(0, kBase);
    const MemoryTable e = build_ok(grant_config(), q);
    ASSERT_NO_FATAL_FAILURE(expect_grant_table(e, q));
    EXPECT_EQ(e.regions().size(), 8u);
    for (size_t i = 0; i < 8; i += 2) EXPECT_EQ(e.regions()[i].base.memory_size, kPage) << "ring region " << i;
}

TEST(FrontendMemoryTable, GrantEveryQueueCountFitsOneTable) {
    // Up to 256 queues (ring indices are 8-bit), at random places and sizes:
    // never more than 8 regions, every ring findable, the space covered.
    std::mt19937_64 rng(0x6a7e);
    for (unsigned n : {1u, 2u, 4u, 5u, 8u, 16u, 64u, 256u}) {
        for (int round = 0; round < 20; ++round) {
            std::vector<QueueConfig> q;
            for (unsigned i = 0; i < n; ++i) {
                const uint16_t size = uint16_t{1} << (rng() % 9);
                const uint64_t at = kBase + (rng() % (kSpace / kPage - 4)) * kPage + (rng() % 64) * 16;
                q.push_back(linux_ring(static_cast<uint16_t>(i), at, size));
            }
            const MemoryTable t = build_ok(grant_config(), q);
            ASSERT_NO_FATAL_FAILURE(expect_grant_table(t, q)) << n << " queues, round " << round;
        }
    }
}

TEST(FrontendMemoryTable, GrantSpansAtAnyLimit) {
    // The span splitter on its own, at limits below a table's.
    std::vector<QueueConfig> q;
    for (uint16_t i = 0; i < 6; ++i) q.push_back(linux_ring(i, kBase + (1 + i * i * 37) * kPage));
    for (size_t limit = 1; limit <= 13; ++limit) {
        const auto spans = grant_spans(q, kSpace, limit);
        ASSERT_FALSE(spans.empty());
        EXPECT_LE(spans.size(), limit);
        EXPECT_EQ(spans.front().addr, kBase);
        EXPECT_EQ(spans.back().addr + spans.back().len, kBase + kSpace);
        for (size_t i = 1; i < spans.size(); ++i) EXPECT_EQ(spans[i].addr, spans[i - 1].addr + spans[i - 1].len);
    }
    EXPECT_EQ(grant_spans(q, kSpace, 13).size(), 13u) << "room for all: nothing merged";
    const auto one = grant_spans(q, kSpace, 1);
    EXPECT_TRUE(one.size() == 1 && one[0].ring) << "one region: all of it ring space";
}

}  // namespace
