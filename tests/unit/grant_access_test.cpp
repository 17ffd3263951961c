// --grant-access: the names, what `auto` and `copy` choose by request size,
// and how a request's pieces become grant copy segments (one per guest page,
// pieces on 4 KiB boundaries of the bounce buffer).
#include "memory/grant_access.hpp"
#include "memory/grant_copy.hpp"
#include "memory/xen_address.hpp"

#include <gtest/gtest.h>

namespace xenvhost::memory {
namespace {

constexpr uint64_t kGrant = kGrantAddressFlag;

TEST(GrantAccess, NamesRoundTrip) {
    for (auto m : {GrantAccess::kAuto, GrantAccess::kMap, GrantAccess::kPerAccess, GrantAccess::kCopy}) {
        auto parsed = parse_grant_access(grant_access_name(m));
        ASSERT_TRUE(parsed) << grant_access_name(m);
        EXPECT_EQ(*parsed, m);
    }
    for (const char* bad : {"", "Map", "batched", "per_access", "copy "}) {
        auto r = parse_grant_access(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message.find("none of auto, map, per-access, copy"), std::string::npos);
    }
}

TEST(GrantAccess, ResolveBySize) {
    EXPECT_EQ(resolve_grant_access(GrantAccess::kAuto, 17), GrantAccess::kCopy);
    EXPECT_EQ(resolve_grant_access(GrantAccess::kAuto, kAutoCopyMaxBytes), GrantAccess::kCopy);
    EXPECT_EQ(resolve_grant_access(GrantAccess::kAuto, kAutoCopyMaxBytes + 1), GrantAccess::kMap);
    EXPECT_EQ(resolve_grant_access(GrantAccess::kCopy, kCopyMaxBytes), GrantAccess::kCopy);
    EXPECT_EQ(resolve_grant_access(GrantAccess::kCopy, kCopyMaxBytes + 1), GrantAccess::kMap);
    EXPECT_EQ(resolve_grant_access(GrantAccess::kMap, 1), GrantAccess::kMap);
    EXPECT_EQ(resolve_grant_access(GrantAccess::kPerAccess, 1 << 30), GrantAccess::kPerAccess);
}

TEST(GrantCopies, SegmentsStopAtGuestPageBoundaries) {
    GrantCopies c;
    // 6000 bytes from offset 3000 of ref 5: refs 5, 6, 7.
    auto at = c.add(kGrant | (5u << 12) | 3000, 6000, 9, false);
    ASSERT_TRUE(at) << at.error().message;
    EXPECT_EQ(*at, 0u);
    auto back = c.add(kGrant | (40u << 12), 1, 9, true);  // a status byte
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, 8192u) << "pieces start on 4 KiB boundaries";
    auto base = c.place();
    ASSERT_TRUE(base) << base.error().message;
    auto in = c.copy_in_segments();
    ASSERT_EQ(in.size(), 3u);
    const uint32_t refs[] = {5, 6, 7}, offsets[] = {3000, 0, 0}, lens[] = {1096, 4096, 808};
    size_t local = 0;
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(in[i].flags, xen::kCopySourceGrant);
        EXPECT_EQ(in[i].source.grant.ref, refs[i]);
        EXPECT_EQ(in[i].source.grant.offset, offsets[i]);
        EXPECT_EQ(in[i].source.grant.domid, 9);
        EXPECT_EQ(in[i].len, lens[i]);
        EXPECT_EQ(in[i].dest.virt, *base + local) << "contiguous in the bounce buffer";
        local += lens[i];
    }
    auto out = c.copy_back_segments();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].flags, xen::kCopyDestGrant);
    EXPECT_EQ(out[0].dest.grant.ref, 40u);
    EXPECT_EQ(out[0].source.virt, *base + 8192);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(out[0].source.virt) % 4096, 0u);
    EXPECT_TRUE(c.has_copy_back());
    c.clear();
    EXPECT_FALSE(c.has_copy_back());
    EXPECT_TRUE(c.copy_in_segments().empty());
}

TEST(GrantCopies, RefusesWhatIsNotAGrantAddress) {
    GrantCopies c;
    EXPECT_FALSE(c.add(0x1000, 16, 1, false)) << "no grant flag";
    EXPECT_FALSE(c.add(kGrant | 0x1000, 0, 1, false)) << "empty";
    EXPECT_FALSE(c.add(kGrant | (uint64_t{UINT32_MAX} << 12), 8192, 1, false)) << "past the last ref";
}

}  // namespace
}  // namespace xenvhost::memory
