// Messages out of order, and negotiation of what was never offered (§5.2
// item 8).
#include "hostile_fixture.hpp"

#include "frontend/virtio_ring.hpp"

namespace xenvhost::component {
namespace {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;
using Req = vu::Request;
using vu::bit;
using HostileOrder = HostileTest;

TEST_F(HostileOrder, RingAddressBeforeMemoryTable) {
    // Rings are allocated in the front-end's memory, but the back-end has
    // no table to translate their addresses with.
    SessionOptions o = default_session();
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, connect(o));
    auto mem = GuestMemory::create_flat(32ull << 20);
    ASSERT_TRUE(mem);
    QueueOptions qo;
    qo.size = 128;
    auto q = SplitQueue::create(*mem, 0, qo, nullptr);
    ASSERT_TRUE(q);
    auto addr = (*q)->vring_addr();
    ASSERT_TRUE(addr);
    VhostClient& c = s->client();
    uint64_t features = s->offered_features() & (supported_blk_features() | bit(vu::kFeatureProtocolFeatures));
    SplitQueue* qp = q->get();
    expect_sequence_rejected(
        "SET_VRING_ADDR before SET_MEM_TABLE",
        {{"SET_FEATURES", [&] { return c.set_features(features); }},
         {"SET_VRING_NUM", [&] { return c.set_vring_num(0, 128); }},
         {"SET_VRING_BASE", [&] { return c.set_vring_base(0, 0); }},
         {"SET_VRING_ADDR", [&] { return c.set_vring_addr(*addr); }},
         {"SET_VRING_KICK", [&] { return c.set_vring_kick(0, qp->kick_fd()); }},
         {"kick", [&] {
              qp->kick();
              auto f = c.get_features();
              return f ? Result<void>() : Result<void>(std::unexpected(f.error()));
          }}});
    s.reset();
    expect_alive("ring address before memory table");
}

TEST_F(HostileOrder, KickBeforeRingAddress) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, negotiated());
    VhostClient& c = s->client();
    SplitQueue& q = s->queue(0);
    expect_sequence_rejected(
        "SET_VRING_KICK before SET_VRING_ADDR",
        {{"SET_VRING_NUM", [&] { return c.set_vring_num(0, 128); }},
         {"SET_VRING_BASE", [&] { return c.set_vring_base(0, 0); }},
         {"SET_VRING_CALL", [&] { return c.set_vring_call(0, q.call_fd()); }},
         {"SET_VRING_KICK", [&] { return c.set_vring_kick(0, q.kick_fd()); }},
         {"SET_VRING_ENABLE", [&] { return c.set_vring_enable(0, true); }},
         {"kick", [&] {
              q.kick();
              auto f = c.get_features();
              return f ? Result<void>() : Result<void>(std::unexpected(f.error()));
          }}});
    s.reset();
    expect_alive("kick before ring address");
}

TEST_F(HostileOrder, VringEnableWithoutProtocolFeatures) {
    // Bit 30 not acked: SET_VRING_ENABLE is not a legal message. Without
    // protocol features there are no acks, so refusal means closing.
    SessionOptions o = default_session();
    o.refuse_features = bit(vu::kFeatureProtocolFeatures);
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, connect(o));
    ASSERT_OK(s->prepare());
    ASSERT_FALSE(s->acked_features() & bit(vu::kFeatureProtocolFeatures));
    ASSERT_FALSE(s->client().reply_ack_negotiated());
    vu::VringState st{0, 1};
    Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(Req::kSetVringEnable),
                                  bytes_of(st));
    EXPECT_TRUE(rejected(v)) << "SET_VRING_ENABLE without VHOST_USER_F_PROTOCOL_FEATURES: "
                             << verdict_name(v);
    s.reset();
    expect_alive("SET_VRING_ENABLE without protocol features");
}

TEST_F(HostileOrder, ProtocolFeaturesNotOffered) {
    for (uint64_t extra : {bit(pf::kXenMmap), bit(pf::kInflightShmfd), bit(63)}) {
        auto c = Connection::connect(socket_);
        ASSERT_TRUE(c) << c.error().message;
        VhostClient client(std::move(*c));
        uint64_t offered;
        ASSERT_OK_AND_ASSIGN(offered, client.get_protocol_features());
        if (offered & extra) continue;  // offered after all: not a fault
        uint64_t ack = (offered & supported_protocol_features()) | extra;
        ASSERT_OK(client.connection().send(static_cast<uint32_t>(Req::kSetProtocolFeatures),
                                           vu::kVersion, bytes_of(ack)));
        auto f = client.get_features();
        EXPECT_FALSE(f) << "protocol feature bits " << std::hex << extra
                        << " acked although not offered, and the back-end carried on";
        client.connection().close();
        expect_alive("protocol features not offered");
    }
}

TEST_F(HostileOrder, FeaturesNotOffered) {
    for (unsigned b : {unsigned{VIRTIO_F_RING_PACKED}, unsigned{VIRTIO_F_ACCESS_PLATFORM}, 63u}) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, connect());
        if (s->offered_features() & bit(b)) continue;
        uint64_t f = (s->offered_features() & supported_blk_features()) |
                     bit(vu::kFeatureProtocolFeatures) | bit(b);
        Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(Req::kSetFeatures),
                                      bytes_of(f));
        EXPECT_TRUE(rejected(v)) << "feature bit " << b << " acked although not offered: "
                                 << verdict_name(v);
        s.reset();
        expect_alive("features not offered");
    }
}

TEST_F(HostileOrder, KickWithoutQueueSize) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, negotiated());
    VhostClient& c = s->client();
    SplitQueue& q = s->queue(0);
    auto addr = q.vring_addr();
    ASSERT_TRUE(addr);
    expect_sequence_rejected(
        "ring started without SET_VRING_NUM",
        {{"SET_VRING_BASE", [&] { return c.set_vring_base(0, 0); }},
         {"SET_VRING_ADDR", [&] { return c.set_vring_addr(*addr); }},
         {"SET_VRING_CALL", [&] { return c.set_vring_call(0, q.call_fd()); }},
         {"SET_VRING_KICK", [&] { return c.set_vring_kick(0, q.kick_fd()); }},
         {"SET_VRING_ENABLE", [&] { return c.set_vring_enable(0, true); }},
         {"kick", [&] {
              q.kick();
              auto f = c.get_features();
              return f ? Result<void>() : Result<void>(std::unexpected(f.error()));
          }}});
    s.reset();
    expect_alive("kick without queue size");
}

}  // namespace
}  // namespace xenvhost::component
