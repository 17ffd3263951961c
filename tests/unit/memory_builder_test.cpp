// The memory builder's decisions: which regions a policy takes (every refusal
// of kind kPolicy, so the session refuses the table and keeps the connection)
// and which strategy serves a table for each addressing.

#include "memory/memory_builder.hpp"
#include "memory/iotlb_memory.hpp"
#include "memory/plain_memory.hpp"
#include "memory/xen_memory.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace xenvhost;
using namespace xenvhost::memory;

namespace {

UniqueFd memfd(size_t bytes) {
    UniqueFd fd(::memfd_create("memory-builder-test", MFD_CLOEXEC));
    EXPECT_TRUE(fd);
    EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(bytes)), 0);
    return fd;
}

RegionDesc plain(uint64_t gpa, uint64_t size) {
    return RegionDesc{gpa, size, 0x7000'0000'0000 + gpa, 0};
}

RegionDesc xen_region(XenRegionKind kind, uint32_t domid) {
    RegionDesc d = plain(0, 1 << 20);
    d.kind = kind;
    d.domid = domid;
    return d;
}

// Handles present, without a hypervisor behind them: nothing here maps through them.
XenHandles fake_handles() {
    return XenHandles{std::make_shared<xen::GrantTable>(nullptr),
                      std::make_shared<xen::ForeignMemory>(nullptr)};
}

const auto kStats = std::make_shared<MapStats>();

}  // namespace

TEST(MemoryBuilder, PlainRegionsAreMappedWhenTheyArrive) {
    MemoryBuilder b;
    auto r = b.make_region(plain(0, 1 << 20), memfd(1 << 20), kStats);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE((*r)->mapped());
}

TEST(MemoryBuilder, MalformedRegionsAreProtocolErrors) {
    MemoryBuilder b;
    auto empty = b.make_region(plain(0, 0), memfd(4096), kStats);
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().kind, ErrorKind::kProtocol);
    auto short_fd =
        b.make_region(plain(0, 1 << 20), memfd(4096), kStats);  // the fd is smaller than the region
    ASSERT_FALSE(short_fd);
    EXPECT_EQ(short_fd.error().kind, ErrorKind::kProtocol);
}

TEST(MemoryBuilder, XenRegionsAreRefusedByPolicy) {
    struct Case {
        const char* what;
        MemoryPolicy policy;
        XenHandles handles;
        RegionDesc desc;
    };
    const Case cases[] = {
        {"not a Xen guest", MemoryPolicy{}, fake_handles(), xen_region(XenRegionKind::kGrant, 5)},
        {"another domain", MemoryPolicy{true, 5, true}, fake_handles(),
         xen_region(XenRegionKind::kGrant, 6)},
        {"no gntdev", MemoryPolicy{true, 5, true}, XenHandles{}, xen_region(XenRegionKind::kGrant, 5)},
        {"no privcmd", MemoryPolicy{true, 5, true}, XenHandles{}, xen_region(XenRegionKind::kForeign, 5)},
        // A memfd where the front-end claims gntdev or privcmd.
        {"grant fd not gntdev", MemoryPolicy{true, 5, true}, fake_handles(),
         xen_region(XenRegionKind::kGrant, 5)},
        {"foreign fd not privcmd", MemoryPolicy{true, std::nullopt, true}, fake_handles(),
         xen_region(XenRegionKind::kForeign, 9)},
    };
    for (const Case& c : cases) {
        MemoryBuilder b(c.policy, c.handles);
        auto r = b.make_region(c.desc, memfd(4096), kStats);
        ASSERT_FALSE(r) << c.what;
        EXPECT_EQ(r.error().kind, ErrorKind::kPolicy) << c.what << ": " << r.error().message;
    }
}

TEST(MemoryBuilder, TheAddressingPicksTheStrategy) {
    MemoryBuilder b(MemoryPolicy{true, 5, true}, XenHandles{});
    auto r = b.make_region(plain(0, 1 << 20), memfd(1 << 20), kStats);
    ASSERT_TRUE(r);
    auto table = RegionTable::build({*r});
    ASSERT_TRUE(table);
    auto iotlb = std::make_shared<Iotlb>();
    auto is = [&]<typename T>(Addressing a) {
        return dynamic_cast<const T*>(b.make_view(*table, a, iotlb, kStats).get()) != nullptr;
    };
    EXPECT_TRUE(is.operator()<PlainMemory>(Addressing::kGuestPhysical));
    EXPECT_TRUE(is.operator()<XenMemory>(Addressing::kXen));
    EXPECT_TRUE(is.operator()<IotlbMemory>(Addressing::kIoVirtual));
    EXPECT_EQ(b.make_view(RegionTable(), Addressing::kGuestPhysical, iotlb, kStats), nullptr);
}
