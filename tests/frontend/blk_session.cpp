#include "frontend/blk_session.hpp"

#include "frontend/ring_start.hpp"

#include <linux/virtio_config.h>
#include "frontend/virtio_ring.hpp"

#include <cstring>

namespace xenvhost::frontend {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;
using vu::bit;

uint64_t supported_protocol_features() {
    return bit(pf::kMq) | bit(pf::kReplyAck) | bit(pf::kConfig) | bit(pf::kConfigureMemSlots) |
           bit(pf::kResetDevice) | bit(pf::kStatus);
}

uint64_t supported_blk_features() {
    return bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_RING_F_INDIRECT_DESC) |
           bit(VIRTIO_RING_F_EVENT_IDX) | bit(VIRTIO_BLK_F_SIZE_MAX) | bit(VIRTIO_BLK_F_SEG_MAX) |
           bit(VIRTIO_BLK_F_GEOMETRY) | bit(VIRTIO_BLK_F_RO) | bit(VIRTIO_BLK_F_BLK_SIZE) |
           bit(VIRTIO_BLK_F_FLUSH) | bit(VIRTIO_BLK_F_TOPOLOGY) | bit(VIRTIO_BLK_F_CONFIG_WCE) |
           bit(VIRTIO_BLK_F_MQ) | bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES);
}

Result<std::unique_ptr<BlkSession>> BlkSession::connect(const std::string& socket_path,
                                                        const SessionOptions& opts) {
    std::unique_ptr<BlkSession> s(new BlkSession(opts));
    if (auto r = s->connect_and_negotiate(socket_path); !r) return std::unexpected(r.error());
    return s;
}

Result<void> BlkSession::connect_and_negotiate(const std::string& socket_path) {
    auto client = connect_client(socket_path, opts_.connect_retry_ms);
    if (!client) return std::unexpected(client.error());
    client_ = std::move(*client);
    client_->set_need_reply_all(opts_.need_reply_all);
    NegotiationPlan plan;
    plan.required_features = bit(VIRTIO_F_VERSION_1);
    plan.protocol_features = !(opts_.refuse_features & bit(vu::kFeatureProtocolFeatures));
    plan.wanted_protocol = (supported_protocol_features() | (opts_.inflight ? bit(pf::kInflightShmfd) : 0)) &
                           ~opts_.refuse_protocol_features;
    plan.num_queues = opts_.num_queues;
    plan.max_mem_slots = true;
    plan.config_size = kBlkConfigSize;
    auto n = negotiate(*client_, plan);
    if (!n) return std::unexpected(n.error());
    negotiated_ = std::move(*n);
    config_ = negotiated_.config_as<virtio_blk_config>();
    return {};
}

Result<void> BlkSession::send_features_and_status() {
    bool status = opts_.use_status && has_protocol(pf::kStatus);
    if (status) {
        if (auto r = client_->set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER); !r)
            return r;
    }
    if (auto r = client_->set_features(acked_features_); !r) return r;
    if (status) {
        if (auto r = client_->set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                         VIRTIO_CONFIG_S_FEATURES_OK);
            !r)
            return r;
    }
    return {};
}

Result<void> BlkSession::send_memory() {
    if (opts_.memory_messages == MemoryMessages::kAddMemReg) {
        if (!has_protocol(pf::kConfigureMemSlots))
            return fail("ADD_MEM_REG needs CONFIGURE_MEM_SLOTS");
        for (const auto& r : memory_->regions())
            if (auto a = client_->add_mem_reg(region_message(r)); !a) return a;
        return {};
    }
    return client_->set_mem_table(*memory_);
}

Result<void> BlkSession::prepare() {
    uint64_t want = supported_blk_features();
    if (!opts_.event_idx) want &= ~bit(VIRTIO_RING_F_EVENT_IDX);
    if (!opts_.indirect) want &= ~bit(VIRTIO_RING_F_INDIRECT_DESC);
    want |= bit(vu::kFeatureProtocolFeatures);
    acked_features_ = offered_features() & want & ~opts_.refuse_features;
    if (opts_.indirect_chains && !(acked_features_ & bit(VIRTIO_RING_F_INDIRECT_DESC)))
        return fail("indirect chains requested but INDIRECT_DESC is not negotiated");
    if (opts_.num_queues > 1 && !(acked_features_ & bit(VIRTIO_BLK_F_MQ)))
        return fail("{} queues requested but VIRTIO_BLK_F_MQ is not negotiated", opts_.num_queues);

    // QEMU's vhost-user-blk hands the inflight area over before SET_FEATURES.
    if (has_protocol(pf::kInflightShmfd)) {
        auto area = client_->get_inflight_fd(opts_.num_queues, opts_.queue_size);
        if (!area) return std::unexpected(area.error());
        inflight_ = std::move(*area);
        if (auto r = client_->set_inflight_fd(inflight_); !r) return r;
    }
    if (auto r = send_features_and_status(); !r) return r;

    auto mem = opts_.regions.empty()
                   ? GuestMemory::create_flat(opts_.memory_size)
                   : GuestMemory::create(opts_.regions, opts_.backing);
    if (!mem) return std::unexpected(mem.error());
    memory_ = std::make_unique<GuestMemory>(std::move(*mem));
    if (auto r = send_memory(); !r) return r;

    QueueOptions qo;
    qo.size = opts_.queue_size;
    qo.event_idx = acked_features_ & bit(VIRTIO_RING_F_EVENT_IDX);
    qo.indirect_max = (acked_features_ & bit(VIRTIO_RING_F_INDIRECT_DESC)) ? 64 : 0;
    qo.region = opts_.ring_region;
    BlkQueueOptions bo = opts_.blk;
    bo.indirect = opts_.indirect_chains;
    if (bo.depth > opts_.queue_size) bo.depth = opts_.queue_size;
    for (uint16_t i = 0; i < opts_.num_queues; ++i) {
        auto q = SplitQueue::create(*memory_, i, qo, opts_.addressing);
        if (!q) return std::unexpected(q.error());
        queues_.push_back(std::move(*q));
        auto b = BlkQueue::create(*memory_, *queues_.back(), bo);
        if (!b) return std::unexpected(b.error());
        blk_.push_back(std::move(*b));
    }
    for (auto& q : queues_) q->reset_indices(opts_.initial_ring_index);
    prepared_ = true;
    return {};
}

Result<void> BlkSession::reconnect(const std::string& socket_path) {
    if (!prepared_) return fail("reconnect needs a session that was started");
    uint64_t acked_before = acked_features_;
    if (auto r = connect_and_negotiate(socket_path); !r) return r;
    if ((offered_features() & acked_before) != acked_before)
        return fail("the back-end no longer offers features {:#x}", acked_before & ~offered_features());
    if (inflight_.fd) {
        if (!has_protocol(pf::kInflightShmfd))
            return fail("the back-end no longer offers INFLIGHT_SHMFD");
        if (auto r = client_->set_inflight_fd(inflight_); !r) return r;
    }
    if (auto r = send_features_and_status(); !r) return r;
    if (auto r = send_memory(); !r) return r;
    return start_rings(true);
}

Result<void> BlkSession::start() {
    if (!prepared_)
        if (auto r = prepare(); !r) return r;
    return start_rings(false);
}

Result<void> BlkSession::start_rings(bool resume) {
    for (uint16_t i = 0; i < queues_.size(); ++i)
        if (auto r = setup_queue(i, resume ? queues_[i]->used_idx() : opts_.initial_ring_index); !r) return r;
    if (opts_.use_status && has_protocol(pf::kStatus)) {
        if (auto r = client_->set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                         VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
            !r)
            return r;
    }
    return {};
}

Result<void> BlkSession::setup_queue(uint16_t index, uint32_t base) {
    SplitQueue& q = *queues_.at(index);
    auto addr = q.vring_addr();
    if (!addr) return std::unexpected(addr.error());
    return start_ring(*client_, q, base, *addr, acked_features_ & bit(vu::kFeatureProtocolFeatures));
}

Result<void> BlkSession::reset_device() {
    if (auto r = client_->reset_device(); !r) return r;
    blk_.clear();
    queues_.clear();
    memory_.reset();
    prepared_ = false;
    return {};
}

Result<uint32_t> BlkSession::stop_queue(uint16_t index) {
    if (acked_features_ & bit(vu::kFeatureProtocolFeatures))
        if (auto r = client_->set_vring_enable(index, false); !r) return std::unexpected(r.error());
    return client_->get_vring_base(index);
}

Result<void> BlkSession::start_queue(uint16_t index, uint32_t base) {
    return setup_queue(index, base);
}

Result<std::vector<uint32_t>> BlkSession::stop() {
    std::vector<uint32_t> bases;
    for (uint16_t i = 0; i < queues_.size(); ++i) {
        auto b = stop_queue(i);
        if (!b) return std::unexpected(b.error());
        bases.push_back(*b);
    }
    return bases;
}

}  // namespace xenvhost::frontend
