// File descriptors where none belong, too many, too few (§5.2 item 2).
#include "hostile_fixture.hpp"

#include "base/eventfd.hpp"

namespace xenvhost::component {
namespace {

namespace vu = vhost_user;
using Req = vu::Request;
using HostileFds = HostileTest;

struct FdCase {
    Req req;
    std::vector<uint8_t> payload;
    bool reply_body;
};

std::vector<FdCase> messages_without_fds(BlkSession& s) {
    uint64_t features = s.acked_features();
    uint64_t proto = s.acked_protocol_features();
    vu::VringState num{0, s.options().queue_size};
    vu::VringState base{0, 0};
    vu::VringState enable{0, 1};
    auto addr = s.queue(0).vring_addr();
    vu::ConfigHeader cfg{0, 8, 0};
    std::vector<uint8_t> cfg_payload = to_bytes(&cfg, sizeof cfg);
    cfg_payload.resize(cfg_payload.size() + 8, 0);
    return {
        {Req::kGetFeatures, {}, true},
        {Req::kSetFeatures, to_bytes(&features, 8), false},
        {Req::kSetOwner, {}, false},
        {Req::kGetProtocolFeatures, {}, true},
        {Req::kSetProtocolFeatures, to_bytes(&proto, 8), false},
        {Req::kGetQueueNum, {}, true},
        {Req::kGetConfig, cfg_payload, true},
        {Req::kSetVringNum, to_bytes(&num, 8), false},
        {Req::kSetVringBase, to_bytes(&base, 8), false},
        {Req::kSetVringAddr, to_bytes(&*addr, sizeof *addr), false},
        {Req::kGetVringBase, to_bytes(&base, 8), true},
        {Req::kSetVringEnable, to_bytes(&enable, 8), false},
        {Req::kGetMaxMemSlots, {}, true},
    };
}

TEST_F(HostileFds, FdOnMessagesThatTakeNone) {
    size_t count;
    {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, negotiated());
        count = messages_without_fds(*s).size();
    }
    for (size_t i = 0; i < count; ++i) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, negotiated());
        FdCase k = messages_without_fds(*s)[i];
        auto efd = make_eventfd();
        ASSERT_TRUE(efd);
        int fds[] = {efd->get()};
        Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(k.req), k.payload, fds,
                                      k.reply_body);
        EXPECT_TRUE(rejected(v)) << vu::request_name(static_cast<uint32_t>(k.req))
                                 << " with an fd: " << verdict_name(v);
        s.reset();
        expect_alive("fd on a message that takes none");
    }
}

TEST_F(HostileFds, TooManyFds) {
    auto make_fds = [](size_t n) {
        std::vector<UniqueFd> own;
        for (size_t i = 0; i < n; ++i) own.push_back(std::move(*make_eventfd()));
        return own;
    };
    struct Case { const char* name; Req req; size_t nfds; };
    for (Case k : {Case{"SET_VRING_KICK", Req::kSetVringKick, 2},
                   Case{"SET_VRING_CALL", Req::kSetVringCall, 3},
                   Case{"SET_VRING_ERR", Req::kSetVringErr, 8},
                   Case{"SET_MEM_TABLE", Req::kSetMemTable, 2},
                   Case{"SET_MEM_TABLE", Req::kSetMemTable, 20},
                   Case{"ADD_MEM_REG", Req::kAddMemReg, 2}}) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, negotiated());
        std::vector<uint8_t> payload;
        if (k.req == Req::kSetMemTable || k.req == Req::kAddMemReg) {
            // A valid one-region table whose extra fds are the fault.
            s->memory();
            RegionMessage r = region_message(s->memory().regions()[0]);
            if (k.req == Req::kAddMemReg) {
                auto mem = GuestMemory::create_flat(1 << 20, 1ull << 32);
                ASSERT_TRUE(mem);
                r = region_message(mem->regions()[0]);
                payload = encode_single_region(r, RegionFormat::kPlain);
            } else {
                payload = encode_mem_table(std::span(&r, 1), RegionFormat::kPlain);
            }
        } else {
            uint64_t v = 0;
            payload = to_bytes(&v, 8);
        }
        auto own = make_fds(k.nfds);
        std::vector<int> fds;
        if (k.req == Req::kSetMemTable || k.req == Req::kAddMemReg)
            fds.push_back(s->memory().regions()[0].fd.get());
        while (fds.size() < k.nfds) fds.push_back(own[fds.size()].get());
        Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(k.req), payload, fds);
        EXPECT_TRUE(rejected(v)) << k.name << " with " << k.nfds << " fds: " << verdict_name(v);
        s.reset();
        expect_alive("too many fds");
    }
}

TEST_F(HostileFds, MissingFds) {
    struct Case { const char* name; Req req; };
    for (Case k : {Case{"SET_VRING_KICK", Req::kSetVringKick},
                   Case{"SET_VRING_CALL", Req::kSetVringCall},
                   Case{"SET_MEM_TABLE", Req::kSetMemTable},
                   Case{"ADD_MEM_REG", Req::kAddMemReg}}) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, negotiated());
        std::vector<uint8_t> payload;
        std::vector<int> fds;
        if (k.req == Req::kSetMemTable) {
            // Two regions, one fd.
            std::vector<RegionMessage> r{region_message(s->memory().regions()[0])};
            RegionMessage second = r[0];
            second.region.guest_phys_addr = 1ull << 32;
            r.push_back(second);
            payload = encode_mem_table(r, RegionFormat::kPlain);
            fds.push_back(r[0].fd);
        } else if (k.req == Req::kAddMemReg) {
            RegionMessage r = region_message(s->memory().regions()[0]);
            r.region.guest_phys_addr = 1ull << 32;
            payload = encode_single_region(r, RegionFormat::kPlain);
        } else {
            uint64_t v = 0;  // ring 0, and no "no fd" bit
            payload = to_bytes(&v, 8);
        }
        Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(k.req), payload, fds);
        EXPECT_TRUE(rejected(v)) << k.name << " without its fd: " << verdict_name(v);
        s.reset();
        expect_alive("missing fds");
    }
}

}  // namespace
}  // namespace xenvhost::component
