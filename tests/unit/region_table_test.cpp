#include "memory/plain_memory.hpp"
#include "memory/region_table.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

using namespace xenvhost;
using namespace xenvhost::memory;

namespace {

UniqueFd memfd(size_t size) {
    int fd = ::memfd_create("region-test", MFD_CLOEXEC);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    return UniqueFd(fd);
}

std::shared_ptr<const Region> region(uint64_t gpa, uint64_t size, uint64_t uaddr, uint64_t offset = 0,
                                     size_t file = 0) {
    auto fd = memfd(file ? file : offset + size);
    auto r = Region::map_plain({gpa, size, uaddr, offset}, fd.get());
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : nullptr;
}

}  // namespace

TEST(RegionTable, FindsByBinarySearch) {
    std::vector<std::shared_ptr<const Region>> regions;
    for (int i = 9; i >= 0; --i) regions.push_back(region(i * 0x100000ull, 0x10000, 0x7000000000 + i * 0x100000ull));
    auto t = RegionTable::build(regions);
    ASSERT_TRUE(t);
    for (int i = 0; i < 10; ++i) {
        const Region* r = t->find(i * 0x100000ull + 0x1234);
        ASSERT_NE(r, nullptr);
        EXPECT_EQ(r->gpa(), i * 0x100000ull);
        EXPECT_EQ(t->find(i * 0x100000ull + 0x10000), nullptr);  // the gap after each region
    }
    uint64_t gpa = 0;
    EXPECT_TRUE(t->uaddr_to_gpa(0x7000000000 + 3 * 0x100000ull + 8, gpa));
    EXPECT_EQ(gpa, 3 * 0x100000ull + 8);
    EXPECT_FALSE(t->uaddr_to_gpa(0x1000, gpa));
}

TEST(RegionTable, RejectsOverlapsInGuestAndUserSpace) {
    EXPECT_FALSE(RegionTable::build({region(0, 0x2000, 0x10000), region(0x1000, 0x2000, 0x90000)}));
    EXPECT_FALSE(RegionTable::build({region(0, 0x2000, 0x10000), region(0x8000, 0x2000, 0x11000)}));
    EXPECT_TRUE(RegionTable::build({region(0, 0x2000, 0x10000), region(0x2000, 0x2000, 0x12000)}));
}

TEST(RegionTable, AddAndRemoveBuildNewTables) {
    auto t = RegionTable::build({region(0, 0x1000, 0x10000)});
    ASSERT_TRUE(t);
    auto t2 = t->with(region(0x100000, 0x1000, 0x20000));
    ASSERT_TRUE(t2);
    EXPECT_EQ(t->size(), 1u);
    EXPECT_EQ(t2->size(), 2u);
    EXPECT_FALSE(t2->with(region(0x100800, 0x1000, 0x30000)));
    auto t3 = t2->without(0x100000, 0x20000, 0x1000);
    ASSERT_TRUE(t3);
    EXPECT_EQ(t3->size(), 1u);
    EXPECT_FALSE(t3->without(0x100000, 0x20000, 0x1000));
}

TEST(RegionTable, TranslateReturnsShortSpansAtRegionEnds) {
    auto t = RegionTable::build({region(0, 0x1000, 0x10000), region(0x1000, 0x1000, 0x20000)});
    ASSERT_TRUE(t);
    auto s = t->translate(0xf00, 0x200);
    EXPECT_EQ(s.size(), 0x100u);
    EXPECT_TRUE(t->translate(0x2000, 1).empty());
}

TEST(Region, RejectsBadDescriptions) {
    auto fd = memfd(0x1000);
    EXPECT_FALSE(Region::map_plain({0, 0, 0x1000, 0}, fd.get()));                       // size 0
    EXPECT_FALSE(Region::map_plain({~0ull - 0x10, 0x1000, 0x1000, 0}, fd.get()));       // gpa overflow
    EXPECT_FALSE(Region::map_plain({0, 0x1000, ~0ull - 0x10, 0}, fd.get()));            // uaddr overflow
    EXPECT_FALSE(Region::map_plain({0, 0x1000, 0x1000, ~0ull - 0x10}, fd.get()));       // offset overflow
    EXPECT_FALSE(Region::map_plain({0, 0x2000, 0x1000, 0}, fd.get()));                  // fd too small
    EXPECT_FALSE(Region::map_plain({0, 0x1000, 0x1000, 0x800}, fd.get()));              // offset+size past end
}

TEST(Region, UnalignedOffsetMapsTheRightBytes) {
    auto fd = memfd(0x3000);
    uint8_t marker = 0xab;
    ASSERT_EQ(::pwrite(fd.get(), &marker, 1, 0x1234), 1);
    auto r = Region::map_plain({0x100000, 0x1000, 0x1000, 0x1234}, fd.get());
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)->host()[0], 0xab);
}

TEST(PlainMemory, MapsBuffersPiecewiseAcrossRegions) {
    auto t = RegionTable::build({region(0, 0x1000, 0x10000), region(0x1000, 0x1000, 0x20000)});
    ASSERT_TRUE(t);
    auto mem = std::make_shared<PlainMemory>(*t);
    MappedBuffers mb;
    GuestBuffer bufs[] = {{0x800, 0x1000, false}, {0x1800, 0x10, true}};
    ASSERT_TRUE(mem->map_buffers(bufs, mb));
    ASSERT_EQ(mb.out.size(), 2u);
    EXPECT_EQ(mb.out[0].iov_len, 0x800u);
    EXPECT_EQ(mb.out[1].iov_len, 0x800u);
    ASSERT_EQ(mb.in.size(), 1u);
    mb.release();
    GuestBuffer outside[] = {{0x1f00, 0x200, false}};
    EXPECT_FALSE(mem->map_buffers(outside, mb));
    uint8_t tmp[0x200];
    EXPECT_TRUE(mem->read(0xf00, {tmp, 0x200}));
    EXPECT_FALSE(mem->read(0x1f00, {tmp, 0x200}));
    EXPECT_TRUE(mem->map_ring(0x100, 0x100, true));
    EXPECT_FALSE(mem->map_ring(0xf00, 0x200, true));  // a ring must lie in one region
}

TEST(RegionTable, UserAddressZeroCountsUnlessTheRegionIsNoAdvance) {
    // Guest RAM at 0 described by guest addresses (QEMU as a Xen device model).
    auto ram = Region::unmapped({0, 0x100000, 0, 0, XenRegionKind::kForeign, false, 7});
    auto t = RegionTable::build({ram});
    ASSERT_TRUE(t);
    uint64_t gpa = 1;
    EXPECT_TRUE(t->uaddr_to_gpa(0x2000, gpa));
    EXPECT_EQ(gpa, 0x2000u);
    // xen-vhost-frontend's no-advance regions carry user address 0 and have none.
    auto gap = Region::unmapped({0x200000, 0x100000, 0, 0, XenRegionKind::kGrant, true, 7});
    auto ring = Region::unmapped({0x300000, 0x1000, 0, 0, XenRegionKind::kGrant, true, 7});
    auto t2 = RegionTable::build({gap, ring});
    ASSERT_TRUE(t2);  // no user-address overlap between regions that have none
    EXPECT_FALSE(t2->uaddr_to_gpa(0x10, gpa));
}
