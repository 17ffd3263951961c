// Feature and protocol-feature negotiation, queue count, config space.
#include "fixture.hpp"

#include <linux/virtio_config.h>

#include "frontend/virtio_ring.hpp"

namespace xenvhost::component {
namespace {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;
using vu::bit;

using NegotiationTest = BackendTest;

TEST_F(NegotiationTest, OffersRingAndBlkFeatures) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, connect());
    uint64_t f = s->offered_features();
    for (unsigned b : {unsigned{VIRTIO_F_VERSION_1}, unsigned{VIRTIO_RING_F_INDIRECT_DESC},
                       unsigned{VIRTIO_RING_F_EVENT_IDX}, vu::kFeatureProtocolFeatures,
                       unsigned{VIRTIO_BLK_F_SIZE_MAX}, unsigned{VIRTIO_BLK_F_SEG_MAX},
                       unsigned{VIRTIO_BLK_F_BLK_SIZE}, unsigned{VIRTIO_BLK_F_TOPOLOGY},
                       unsigned{VIRTIO_BLK_F_FLUSH}, unsigned{VIRTIO_BLK_F_CONFIG_WCE},
                       unsigned{VIRTIO_BLK_F_MQ}, unsigned{VIRTIO_BLK_F_DISCARD},
                       unsigned{VIRTIO_BLK_F_WRITE_ZEROES}})
        EXPECT_TRUE(f & bit(b)) << "feature bit " << b << " not offered (features "
                                << std::hex << f << ")";
    EXPECT_FALSE(f & bit(VIRTIO_BLK_F_RO)) << "RO offered on a writable disk";
}

TEST_F(NegotiationTest, OffersProtocolFeaturesButNotXenMmap) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, connect());
    uint64_t p = s->offered_protocol_features();
    uint64_t need = required_protocol_features();
    EXPECT_EQ(p & need, need) << std::hex << "offered " << p << ", missing " << (need & ~p);
    EXPECT_FALSE(p & bit(pf::kXenMmap)) << "XEN_MMAP offered to a plain front-end";
    // Everything this front-end acked is what it asked for.
    EXPECT_EQ(s->acked_protocol_features(), p & supported_protocol_features());
}

TEST_F(NegotiationTest, QueueNumAndMemSlots) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, connect());
    EXPECT_EQ(s->queue_num(), cfg_.num_queues);
    // QEMU needs at least the 8 regions of SET_MEM_TABLE.
    EXPECT_GE(s->max_mem_slots(), 8u);
    EXPECT_LE(s->max_mem_slots(), 512u);
}

TEST_F(NegotiationTest, ConfigSpace) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, connect());
    const virtio_blk_config& c = s->config();
    EXPECT_EQ(c.capacity, cfg_.image_size / kSectorSize);
    EXPECT_EQ(c.blk_size, 512u);
    EXPECT_GT(c.seg_max, 0u);
    EXPECT_EQ(c.num_queues, cfg_.num_queues);
    EXPECT_GT(c.max_discard_sectors, 0u);
    EXPECT_GE(c.max_discard_seg, 1u);
    EXPECT_GT(c.max_write_zeroes_sectors, 0u);
    EXPECT_GE(c.max_write_zeroes_seg, 1u);
}

TEST_F(NegotiationTest, PartialConfigRead) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, connect());
    // The capacity field alone, as a driver may read it.
    std::vector<uint8_t> cap;
    ASSERT_OK_AND_ASSIGN(cap, s->client().get_config(0, 8));
    uint64_t v;
    std::memcpy(&v, cap.data(), 8);
    EXPECT_EQ(v, cfg_.image_size / kSectorSize);
}

TEST_F(NegotiationTest, StatusRoundTrip) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    if (!s->has_protocol(pf::kStatus)) {
        ASSERT_FALSE(is_worker()) << "the worker must offer STATUS";
        GTEST_SKIP() << "back-end has no STATUS protocol feature";
    }
    uint8_t st;
    ASSERT_OK_AND_ASSIGN(st, s->client().get_status());
    EXPECT_EQ(st, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                      VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
    verified_io(s->blk(0), 100, 4096, 1);
}

TEST_F(NegotiationTest, ResetDeviceThenRestart) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    if (!s->has_protocol(pf::kResetDevice)) {
        ASSERT_FALSE(is_worker()) << "the worker must offer RESET_DEVICE";
        GTEST_SKIP() << "back-end has no RESET_DEVICE protocol feature";
    }
    verified_io(s->blk(0), 200, 8192, 2);
    ASSERT_OK(s->reset_device());
    if (s->has_protocol(pf::kStatus)) {
        uint8_t st;
        ASSERT_OK_AND_ASSIGN(st, s->client().get_status());
        EXPECT_EQ(st, 0) << "status not cleared by RESET_DEVICE";
    }
    ASSERT_OK(s->start());
    verified_io(s->blk(0), 300, 8192, 3);
}

TEST_F(NegotiationTest, WithoutProtocolFeaturesRingsAreEnabled) {
    // A front-end that does not ack bit 30 never sends SET_VRING_ENABLE: the
    // back-end must enable rings by itself.
    SessionOptions o = default_session();
    o.refuse_features = bit(vu::kFeatureProtocolFeatures);
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    verified_io(s->blk(0), 400, 4096, 4);
}

TEST_F(NegotiationTest, WithoutReplyAck) {
    SessionOptions o = default_session();
    o.refuse_protocol_features = bit(pf::kReplyAck);
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open(o));
    verified_io(s->blk(0), 500, 4096, 5);
}

}  // namespace
}  // namespace xenvhost::component
