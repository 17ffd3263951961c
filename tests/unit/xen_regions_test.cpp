#include "memory/foreign_region.hpp"
#include "memory/xen_address.hpp"
#include "vhost_user/xen_region_flags.hpp"

#include <gtest/gtest.h>

using namespace xenvhost;
using namespace xenvhost::memory;
using xenvhost::vhost_user::parse_xen_flags;

TEST(XenRegionFlags, ParsesKindsAndBothNoAdvanceValues) {
    auto f = parse_xen_flags(0x1);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->kind, XenRegionKind::kForeign);
    EXPECT_FALSE(f->no_advance_map);
    f = parse_xen_flags(0x2);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->kind, XenRegionKind::kGrant);
    f = parse_xen_flags(0x2 | 0x8);  // xen-vhost-frontend, rust-vmm
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->no_advance_map);
    f = parse_xen_flags(0x2 | 0x100);  // the specification
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->no_advance_map);
    f = parse_xen_flags(0);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->kind, XenRegionKind::kPlain);
}

TEST(XenRegionFlags, RefusesBadCombinations) {
    EXPECT_FALSE(parse_xen_flags(0x3));          // foreign and grant
    EXPECT_FALSE(parse_xen_flags(0x4));          // unknown bit
    EXPECT_FALSE(parse_xen_flags(0x2 | 0x200));  // unknown bit with a valid kind
    EXPECT_FALSE(parse_xen_flags(0x80000002));
    EXPECT_FALSE(parse_xen_flags(0x8));          // no-advance on a plain region
}

TEST(GatherPages, GrantAddressesDecodeToConsecutiveRefs) {
    std::vector<uint64_t> frames;
    const uint64_t addr = kGrantAddressFlag | (uint64_t{77} << 12) | 0x800;
    auto span = gather_pages(XenRegionKind::kGrant, addr, 0x1000, frames);  // crosses into ref 78
    ASSERT_TRUE(span);
    EXPECT_EQ(span->first_page, 0u);
    EXPECT_EQ(span->offset, 0x800u);
    EXPECT_EQ(frames, (std::vector<uint64_t>{77, 78}));
    auto second = gather_pages(XenRegionKind::kGrant, kGrantAddressFlag | (uint64_t{5} << 12), 16, frames);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->first_page, 2u);  // appended after the first buffer's pages
    EXPECT_EQ(frames.back(), 5u);
}

TEST(GatherPages, ForeignFramesAre4KiB) {
    std::vector<uint64_t> frames;
    auto span = gather_pages(XenRegionKind::kForeign, 0x12345678, 0x2000, frames);
    ASSERT_TRUE(span);
    EXPECT_EQ(span->offset, 0x678u);
    EXPECT_EQ(frames, (std::vector<uint64_t>{0x12345, 0x12346, 0x12347}));
}

TEST(GatherPages, RejectsBadAddresses) {
    std::vector<uint64_t> frames;
    EXPECT_FALSE(gather_pages(XenRegionKind::kGrant, 0x1000, 16, frames));  // no grant flag
    EXPECT_FALSE(gather_pages(XenRegionKind::kGrant, ~uint64_t{0} - 8, 16, frames));
    EXPECT_FALSE(gather_pages(XenRegionKind::kGrant, kGrantAddressFlag | (uint64_t{1} << 44), 16, frames));  // ref > 32 bits
    EXPECT_FALSE(gather_pages(XenRegionKind::kForeign, ~uint64_t{0} - 8, 16, frames));
    EXPECT_FALSE(gather_pages(XenRegionKind::kForeign, 0x1000, 0, frames));
    EXPECT_TRUE(frames.empty());
}

TEST(ForeignWholeMapping, OnlyForAdvanceMappableWholeFramesOfBoundedSize) {
    using namespace xenvhost::memory;
    RegionDesc d;
    d.kind = XenRegionKind::kForeign;
    d.gpa = 0x100000;
    d.size = 64 << 20;
    EXPECT_TRUE(can_map_foreign_whole(d));
    d.size = kMaxWholeRegionBytes;
    EXPECT_TRUE(can_map_foreign_whole(d));
    // A front-end's size is not an allocation we make: past the bound, per request.
    d.size = kMaxWholeRegionBytes + 4096;
    EXPECT_FALSE(can_map_foreign_whole(d));
    d.size = uint64_t{1} << 50;
    EXPECT_FALSE(can_map_foreign_whole(d));
    d.size = 64 << 20;
    d.no_advance_map = true;
    EXPECT_FALSE(can_map_foreign_whole(d));
    d.no_advance_map = false;
    d.gpa += 512;  // not on a Xen frame
    EXPECT_FALSE(can_map_foreign_whole(d));
    d.gpa -= 512;
    d.kind = XenRegionKind::kGrant;
    EXPECT_FALSE(can_map_foreign_whole(d));
}
