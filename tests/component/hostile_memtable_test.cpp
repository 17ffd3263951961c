// Memory tables a back-end must refuse (§5.2 item 5).
#include "hostile_fixture.hpp"

#include "base/eventfd.hpp"

namespace xenvhost::component {
namespace {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;
using Req = vu::Request;
using HostileMemTable = HostileTest;

constexpr uint64_t MiB = 1ull << 20;

// A negotiated connection (features set, no table yet) and two memfds of
// 16 MiB to describe regions with.
struct Bench {
    std::unique_ptr<BlkSession> session;
    GuestMemory mem;
};

Result<Bench> bench(HostileTest& t, Result<std::unique_ptr<BlkSession>> s) {
    (void)t;
    if (!s) return std::unexpected(s.error());
    RegionLayout l[] = {{0, 16 * MiB}, {32 * MiB, 16 * MiB}};
    auto mem = GuestMemory::create(l);
    if (!mem) return std::unexpected(mem.error());
    return Bench{std::move(*s), std::move(*mem)};
}

TEST_F(HostileMemTable, BadTables) {
    struct Case {
        const char* name;
        std::function<void(std::vector<RegionMessage>&, std::vector<int>&, std::vector<uint8_t>&,
                           std::vector<UniqueFd>&)>
            mutate;
    };
    std::vector<Case> cases = {
        {"more regions than fds",
         [](auto&, auto& fds, auto&, auto&) { fds.pop_back(); }},
        {"more fds than regions",
         [](auto& r, auto& fds, auto&, auto&) { r.pop_back(); (void)fds; }},
        {"nine regions",
         [](auto& r, auto& fds, auto&, auto& own) {
             while (r.size() < 9) {
                 RegionMessage extra = r[0];
                 extra.region.guest_phys_addr = (64 + 16 * r.size()) * MiB;
                 own.push_back(std::move(*make_memfd("extra", 16 * MiB)));
                 extra.fd = own.back().get();
                 r.push_back(extra);
                 fds.push_back(extra.fd);
             }
         }},
        {"overlapping regions",
         [](auto& r, auto&, auto&, auto&) { r[1].region.guest_phys_addr = 8 * MiB; }},
        {"gpa + size overflows",
         [](auto& r, auto&, auto&, auto&) {
             r[1].region.guest_phys_addr = 0xfffffffffffff000ull;
             r[1].region.memory_size = 0x2000;
         }},
        {"user address + size overflows",
         [](auto& r, auto&, auto&, auto&) { r[1].region.user_addr = 0xfffffffffffff000ull; }},
        {"mmap offset + size overflows",
         [](auto& r, auto&, auto&, auto&) { r[1].region.mmap_offset = 0xfffffffffffff000ull; }},
        {"size 0", [](auto& r, auto&, auto&, auto&) { r[1].region.memory_size = 0; }},
        {"fd smaller than offset + size",
         [](auto& r, auto& fds, auto&, auto& own) {
             own.push_back(std::move(*make_memfd("small", 64 * 1024)));
             r[1].fd = fds[1] = own.back().get();
         }},
        {"offset beyond the fd",
         [](auto& r, auto&, auto&, auto&) { r[1].region.mmap_offset = 64 * MiB; }},
        {"fd that cannot be mapped",
         [](auto& r, auto& fds, auto&, auto& own) {
             own.push_back(std::move(*make_eventfd()));
             r[1].fd = fds[1] = own.back().get();
         }},
        {"nregions larger than the payload",
         [](auto& r, auto&, auto& payload, auto&) {
             payload = encode_mem_table(r, RegionFormat::kPlain);
             payload.resize(payload.size() - 32);
         }},
        {"40-byte Xen regions on a plain back-end",
         [](auto& r, auto&, auto& payload, auto&) {
             payload = encode_mem_table(r, RegionFormat::kXen);
         }},
    };
    for (auto& k : cases) {
        Bench b;
        ASSERT_OK_AND_ASSIGN(b, bench(*this, negotiated()));
        std::vector<RegionMessage> regions;
        for (const auto& r : b.mem.regions()) regions.push_back(region_message(r));
        std::vector<int> fds;
        for (const auto& r : regions) fds.push_back(r.fd);
        std::vector<uint8_t> payload;
        std::vector<UniqueFd> own;
        k.mutate(regions, fds, payload, own);
        if (payload.empty()) payload = encode_mem_table(regions, RegionFormat::kPlain);
        Verdict v = send_and_classify(b.session->client(), static_cast<uint32_t>(Req::kSetMemTable),
                                      payload, fds);
        EXPECT_TRUE(rejected(v)) << "SET_MEM_TABLE, " << k.name << ": " << verdict_name(v);
        b.session.reset();
        expect_alive(k.name);
    }
}

TEST_F(HostileMemTable, BadAddAndRemove) {
    {
        std::unique_ptr<BlkSession> probe;
        ASSERT_OK_AND_ASSIGN(probe, negotiated());
        if (!probe->has_protocol(pf::kConfigureMemSlots)) {
            ASSERT_FALSE(is_worker());
            GTEST_SKIP() << "no CONFIGURE_MEM_SLOTS";
        }
    }
    struct Case { const char* name; Req req; std::function<void(RegionMessage&, RegionFormat&)> mutate; };
    std::vector<Case> cases = {
        {"ADD_MEM_REG overlapping a region", Req::kAddMemReg,
         [](RegionMessage& r, RegionFormat&) { r.region.guest_phys_addr = 4 * MiB; }},
        {"ADD_MEM_REG of size 0", Req::kAddMemReg,
         [](RegionMessage& r, RegionFormat&) { r.region.memory_size = 0; }},
        {"ADD_MEM_REG gpa + size overflow", Req::kAddMemReg,
         [](RegionMessage& r, RegionFormat&) { r.region.guest_phys_addr = ~0ull - 0xfff; }},
        {"ADD_MEM_REG 48-byte Xen region on a plain back-end", Req::kAddMemReg,
         [](RegionMessage&, RegionFormat& f) { f = RegionFormat::kXen; }},
        {"REM_MEM_REG of a region that does not exist", Req::kRemMemReg,
         [](RegionMessage& r, RegionFormat&) {
             r.region.guest_phys_addr = 512 * MiB;
             r.fd = -1;
         }},
    };
    for (auto& k : cases) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, negotiated());  // has the 32 MiB region at gpa 0
        auto extra = GuestMemory::create_flat(16 * MiB, 1ull << 32);
        ASSERT_TRUE(extra);
        RegionMessage r = region_message(extra->regions()[0]);
        RegionFormat f = RegionFormat::kPlain;
        k.mutate(r, f);
        std::vector<int> fds;
        if (r.fd >= 0) fds.push_back(r.fd);
        Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(k.req),
                                      encode_single_region(r, f), fds);
        EXPECT_TRUE(rejected(v)) << k.name << ": " << verdict_name(v);
        s.reset();
        expect_alive(k.name);
    }
}

TEST_F(HostileMemTable, MoreRegionsThanSlots) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, negotiated());
    if (!s->has_protocol(pf::kConfigureMemSlots)) {
        ASSERT_FALSE(is_worker());
        GTEST_SKIP() << "no CONFIGURE_MEM_SLOTS";
    }
    uint64_t slots = s->max_mem_slots();
    ASSERT_LE(slots, 512u);
    // The session's table holds one region; fill the remaining slots.
    auto fd = make_memfd("slot", 4096);
    ASSERT_TRUE(fd);
    for (uint64_t i = 1; i < slots; ++i) {
        RegionMessage r;
        r.region = {(1ull << 32) + i * 0x10000, 4096, 0x7f0000000000ull + i * 0x10000, 0};
        r.fd = fd->get();
        ASSERT_OK(s->client().add_mem_reg(r));
    }
    RegionMessage r;
    r.region = {(1ull << 33), 4096, 0x7e0000000000ull, 0};
    r.fd = fd->get();
    int fds[] = {r.fd};
    Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(Req::kAddMemReg),
                                  encode_single_region(r, RegionFormat::kPlain), fds);
    EXPECT_TRUE(rejected(v)) << "region " << slots + 1 << " of " << slots << ": " << verdict_name(v);
    s.reset();
    expect_alive("too many regions");
}

TEST_F(HostileMemTable, TableWithoutTheRingsWhileRunning) {
    // The rings' region disappears from the table while they run: the
    // back-end must refuse the table or stop using the rings, never touch
    // the old mapping.
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, negotiated());
    ASSERT_OK(s->start());
    ASSERT_OK(s->blk(0).read(0, 4096));
    auto other = GuestMemory::create_flat(16 * MiB, 1ull << 32);
    ASSERT_TRUE(other);
    RegionMessage r = region_message(other->regions()[0]);
    Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(Req::kSetMemTable),
                                  encode_mem_table(std::span(&r, 1), RegionFormat::kPlain),
                                  std::vector<int>{r.fd});
    if (!rejected(v)) {
        ASSERT_EQ(v, Verdict::kAccepted) << verdict_name(v);
        // Accepted: a request on the old rings must not be served.
        ASSERT_OK(s->blk(0).submit(BlkCommand::in(0, 4096)));
        s->blk(0).flush();
        auto done = s->blk(0).poll(1000, 1);
        if (done && !done->empty()) {
            EXPECT_NE(done->front().status, VIRTIO_BLK_S_OK) << "served through unmapped rings";
        }
    }
    s.reset();
    expect_alive("table without the rings");
}

}  // namespace
}  // namespace xenvhost::component
