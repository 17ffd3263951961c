// Vring messages with bad indices, sizes and addresses (§5.2 items 3, 4, 7).
#include "hostile_fixture.hpp"

#include <fstream>

namespace xenvhost::component {
namespace {

namespace vu = vhost_user;
using Req = vu::Request;
using HostileVring = HostileTest;

// Indices a u32 vring field must refuse with 2 queues: the first past the
// end, the 8-bit limit, and values whose low 16 bits name ring 0.
constexpr uint32_t kBadIndices[] = {2, 255, 256, 0x10000, 0x80000000};

TEST_F(HostileVring, IndexOutOfRangeOnEveryVringMessage) {
    struct Msg { Req req; bool reply_body; };
    for (Msg m : {Msg{Req::kSetVringNum, false}, Msg{Req::kSetVringAddr, false},
                  Msg{Req::kSetVringBase, false}, Msg{Req::kGetVringBase, true},
                  Msg{Req::kSetVringEnable, false}}) {
        for (uint32_t index : kBadIndices) {
            std::unique_ptr<BlkSession> s;
            ASSERT_OK_AND_ASSIGN(s, negotiated());
            std::vector<uint8_t> payload;
            if (m.req == Req::kSetVringAddr) {
                auto a = s->queue(0).vring_addr();
                ASSERT_TRUE(a);
                a->index = index;
                payload = to_bytes(&*a, sizeof *a);
            } else {
                uint32_t num = m.req == Req::kSetVringNum ? s->options().queue_size
                               : m.req == Req::kSetVringEnable ? 1
                                                               : 0;
                vu::VringState st{index, num};
                payload = to_bytes(&st, sizeof st);
            }
            Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(m.req), payload, {},
                                          m.reply_body);
            EXPECT_TRUE(rejected(v)) << vu::request_name(static_cast<uint32_t>(m.req))
                                     << " index " << std::hex << index << ": " << verdict_name(v);
            s.reset();
            expect_alive("bad vring index");
        }
    }
}

TEST_F(HostileVring, IndexOutOfRangeOnFdMessages) {
    // KICK/CALL/ERR carry the index in bits 0-7 of a u64; bits 9-63 are
    // reserved and must not be ignored.
    for (Req req : {Req::kSetVringKick, Req::kSetVringCall, Req::kSetVringErr}) {
        for (uint64_t value : {uint64_t{2}, uint64_t{255}, uint64_t{0x200}, uint64_t{1} << 32,
                               uint64_t{1} << 63}) {
            std::unique_ptr<BlkSession> s;
            ASSERT_OK_AND_ASSIGN(s, negotiated());
            int fds[] = {s->queue(0).kick_fd()};
            Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(req),
                                          bytes_of(value), fds);
            EXPECT_TRUE(rejected(v)) << vu::request_name(static_cast<uint32_t>(req)) << " value "
                                     << std::hex << value << ": " << verdict_name(v);
            s.reset();
            expect_alive("bad vring fd index");
        }
    }
}

TEST_F(HostileVring, BadQueueSizes) {
    // 0, not a power of two, above the virtio maximum (and 0 once truncated
    // to 16 bits), above the back-end's own maximum.
    for (uint32_t num : {0u, 3u, 100u, 32769u, 65536u, 0x10010u, 1024u}) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, negotiated());
        auto addr = s->queue(0).vring_addr();
        ASSERT_TRUE(addr);
        expect_sequence_rejected("SET_VRING_NUM " + std::to_string(num),
                                 ring_steps(*s, 0, num, *addr));
        s.reset();
        expect_alive("bad queue size");
    }
}

static long rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string key;
    long value = -1;
    while (in >> key) {
        if (key == "VmRSS:") {
            in >> value;
            break;
        }
        std::getline(in, key);
    }
    return value;
}

TEST_F(HostileVring, RepeatedSetVringNumDoesNotLeak) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, negotiated());
    long before = rss_kib(backend_->pid());
    vu::VringState st{0, s->options().queue_size};
    for (int i = 0; i < 100000; ++i)
        ASSERT_OK(s->client().connection().send(static_cast<uint32_t>(Req::kSetVringNum),
                                                vu::kVersion, bytes_of(st)));
    ASSERT_OK(s->client().get_features());  // everything before it was handled
    long after = rss_kib(backend_->pid());
    EXPECT_LT(after - before, 8 * 1024) << "RSS grew from " << before << " KiB to " << after;
    s.reset();
    expect_alive("repeated SET_VRING_NUM");
}

TEST_F(HostileVring, RingAddressesOutsideMemory) {
    struct Case { const char* name; int which; uint64_t user_addr; };
    // user addresses that no region contains
    for (Case k : {Case{"desc", 0, 0x1000}, Case{"avail", 1, 0x1000}, Case{"used", 2, 0x1000},
                   Case{"desc", 0, ~uint64_t{0} - 0xfff}}) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, negotiated());
        auto addr = s->queue(0).vring_addr();
        ASSERT_TRUE(addr);
        (k.which == 0 ? addr->desc_user_addr : k.which == 1 ? addr->avail_user_addr
                                                             : addr->used_user_addr) = k.user_addr;
        expect_sequence_rejected(std::string(k.name) + " ring outside memory",
                                 ring_steps(*s, 0, s->options().queue_size, *addr));
        s.reset();
        expect_alive("ring outside memory");
    }
}

TEST_F(HostileVring, RingRunsPastTheEndOfItsRegion) {
    // Two regions with a gap; the descriptor table starts 1 KiB before the
    // end of the first one and would need 2 KiB.
    SessionOptions o = default_session();
    o.regions = {{0, 16 << 20}, {64 << 20, 16 << 20}};
    o.ring_region = 1;
    o.blk.region = 1;
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, negotiated(o));
    auto addr = s->queue(0).vring_addr();
    ASSERT_TRUE(addr);
    const Region& r0 = s->memory().regions()[0];
    addr->desc_user_addr = r0.user_addr() + r0.size - 1024;
    expect_sequence_rejected("descriptor table across the end of a region",
                             ring_steps(*s, 0, 128, *addr));
}

TEST_F(HostileVring, MisalignedRings) {
    // desc needs 16-byte, avail 2-byte, used 4-byte alignment.
    struct Case { const char* name; int which; uint64_t offset; };
    for (Case k : {Case{"desc+8", 0, 8}, Case{"avail+1", 1, 1}, Case{"used+2", 2, 2}}) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, negotiated());
        auto addr = s->queue(0).vring_addr();
        ASSERT_TRUE(addr);
        (k.which == 0 ? addr->desc_user_addr : k.which == 1 ? addr->avail_user_addr
                                                             : addr->used_user_addr) += k.offset;
        expect_sequence_rejected(k.name, ring_steps(*s, 0, s->options().queue_size, *addr));
        s.reset();
        expect_alive("misaligned ring");
    }
}

}  // namespace
}  // namespace xenvhost::component
