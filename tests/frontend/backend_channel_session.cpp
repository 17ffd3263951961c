#include "frontend/backend_channel_session.hpp"

#include "frontend/blk_session.hpp"
#include "frontend/bytes.hpp"
#include "frontend/negotiation.hpp"
#include "frontend/virtio_ring.hpp"

#include <linux/virtio_config.h>

#include <chrono>
#include <cstring>
#include <thread>

namespace xenvhost::frontend {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;
using vu::bit;

namespace {
constexpr unsigned kAccessPlatform = 33;  // VIRTIO_F_ACCESS_PLATFORM
}  // namespace

Result<std::unique_ptr<ChannelBlkSession>> ChannelBlkSession::connect(const std::string& socket_path,
                                                                      const ChannelSessionOptions& opts) {
    std::unique_ptr<ChannelBlkSession> s(new ChannelBlkSession(opts));
    auto client = connect_client(socket_path, opts.connect_retry_ms);
    if (!client) return std::unexpected(client.error());
    s->client_ = std::move(*client);
    // Guest memory and the IOMMU exist before the channel can ask about them.
    RegionLayout layout{opts.memory_gpa, opts.memory_size};
    auto mem = GuestMemory::create({&layout, 1});
    if (!mem) return std::unexpected(mem.error());
    s->memory_ = std::make_unique<GuestMemory>(std::move(*mem));
    s->iommu_ = std::make_unique<Iommu>(*s->memory_);
    if (auto r = s->negotiate(); !r) return std::unexpected(r.error());
    if (opts.channel)
        if (auto r = s->open_channel(); !r) return std::unexpected(r.error());
    return s;
}

ChannelBlkSession::~ChannelBlkSession() {
    if (channel_) channel_->stop();
}

Result<void> ChannelBlkSession::negotiate() {
    NegotiationPlan plan;
    plan.required_features = bit(vu::kFeatureProtocolFeatures);
    plan.wanted_protocol = bit(pf::kMq) | bit(pf::kConfig);
    if (opts_.reply_ack) plan.wanted_protocol |= bit(pf::kReplyAck);
    if (opts_.channel) plan.wanted_protocol |= bit(pf::kBackendReq);
    if (opts_.channel) plan.required_protocol = bit(pf::kBackendReq);
    plan.config_size = kBlkConfigSize;
    auto n = frontend::negotiate(*client_, plan);
    if (!n) return std::unexpected(n.error());
    offered_features_ = n->offered_features;
    offered_protocol_ = n->offered_protocol;
    acked_protocol_ = n->acked_protocol;
    config_ = n->config_as<virtio_blk_config>();
    return {};
}

Result<void> ChannelBlkSession::open_channel() {
    auto ch = BackendChannel::create();
    if (!ch) return std::unexpected(ch.error());
    channel_ = std::move(*ch);
    channel_->on(BackendRequest::kIotlbMsg, [this](Message& m) { return answer_miss(m); });
    channel_->on(BackendRequest::kConfigChangeMsg, [this](Message&) { return answer_config_change(); });
    if (auto r = channel_->start(); !r) return r;
    int fd = channel_->backend_end();
    if (auto r = client_->send(vu::Request::kSetBackendReqFd, {}, {&fd, 1}); !r) return r;
    channel_->close_backend_end();
    return {};
}

uint64_t ChannelBlkSession::answer_miss(Message& msg) {
    vu::IotlbMsg m;
    if (msg.payload.size() != sizeof m) return EINVAL;
    std::memcpy(&m, msg.payload.data(), sizeof m);
    if (m.type != iotlb_type::kMiss) return EINVAL;
    auto update = iommu_->answer_miss(m.iova, opts_.miss_answer);
    if (!update) return EFAULT;  // nothing maps it: no translation to give
    auto lock = lock_client_for(opts_.miss_lock_timeout_ms);
    if (!lock.owns_lock()) return EBUSY;
    auto r = iotlb_locked(*update);
    return r && *r == 0 ? 0 : EIO;
}

uint64_t ChannelBlkSession::answer_config_change() {
    if (opts_.config_change == ConfigChangeStyle::kAnswerFirst) return 0;
    auto lock = lock_client_for(opts_.miss_lock_timeout_ms);
    if (!lock.owns_lock()) return EBUSY;
    auto cfg = client_->get_config(0, kBlkConfigSize);
    if (!cfg) return EIO;
    virtio_blk_config c{};
    std::memcpy(&c, cfg->data(), std::min(cfg->size(), sizeof c));
    std::lock_guard g(configs_mutex_);
    configs_on_change_.push_back(c);
    return 0;
}

std::unique_lock<std::mutex> ChannelBlkSession::lock_client_for(int timeout_ms) {
    std::unique_lock lock(client_mutex_, std::defer_lock);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!lock.try_lock() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return lock;
}

Result<uint64_t> ChannelBlkSession::iotlb_locked(const vu::IotlbMsg& m) {
    auto reply = client_->call(vu::Request::kIotlbMsg, bytes_of(m));
    if (!reply) return std::unexpected(reply.error());
    if (reply->payload.size() != sizeof(uint64_t))
        return fail("IOTLB_MSG reply has {} payload bytes", reply->payload.size());
    uint64_t v;
    std::memcpy(&v, reply->payload.data(), sizeof v);
    return v;
}

Result<uint64_t> ChannelBlkSession::iotlb(const vu::IotlbMsg& m) {
    std::lock_guard lock(client_mutex_);
    return iotlb_locked(m);
}

Result<uint64_t> ChannelBlkSession::update(const IommuMapping& m) {
    auto u = iommu_->update_of(m);
    if (!u) return std::unexpected(u.error());
    return iotlb(*u);
}

Result<uint64_t> ChannelBlkSession::invalidate(uint64_t iova, uint64_t size) {
    vu::IotlbMsg m{};
    m.iova = iova;
    m.size = size;
    m.type = iotlb_type::kInvalidate;
    return iotlb(m);
}

Result<uint64_t> ChannelBlkSession::unmap_and_invalidate(const IommuMapping& m) {
    if (auto r = iommu_->unmap(m.iova); !r) return std::unexpected(r.error());
    return invalidate(m.first_page(), m.pages_len());
}

Result<void> ChannelBlkSession::update_slot(unsigned slot) {
    const SlotMappings& s = slots_.at(slot);
    for (const IommuMapping* m : {&s.meta, &s.data}) {
        auto r = update(*m);
        if (!r) return std::unexpected(r.error());
        if (*r != 0) return fail("back-end refused the UPDATE of IOVA {:#x} ({})", m->iova, *r);
    }
    return {};
}

std::vector<vu::IotlbMsg> ChannelBlkSession::misses() const {
    std::vector<vu::IotlbMsg> out;
    if (!channel_) return out;
    for (const auto& r : channel_->records()) {
        if (r.request != static_cast<uint32_t>(BackendRequest::kIotlbMsg) || r.payload.size() != sizeof(vu::IotlbMsg))
            continue;
        vu::IotlbMsg m;
        std::memcpy(&m, r.payload.data(), sizeof m);
        out.push_back(m);
    }
    return out;
}

std::vector<virtio_blk_config> ChannelBlkSession::configs_read_on_change() const {
    std::lock_guard lock(configs_mutex_);
    return configs_on_change_;
}

Result<virtio_blk_config> ChannelBlkSession::read_config() {
    std::lock_guard lock(client_mutex_);
    auto cfg = client_->get_config(0, kBlkConfigSize);
    if (!cfg) return std::unexpected(cfg.error());
    virtio_blk_config c{};
    std::memcpy(&c, cfg->data(), std::min(cfg->size(), sizeof c));
    return c;
}

Result<void> ChannelBlkSession::map_rings_and_slots() {
    const uint64_t n = opts_.queue_size;
    struct Area {
        uint64_t gpa, len;
        uint8_t perm;
    };
    // The device reads the descriptor table and the avail ring (used_event
    // included) and writes the used ring (avail_event included).
    for (Area a : {Area{queue_->desc_gpa(), 16 * n, iommu_perm::kRead},
                   Area{queue_->avail_gpa(), 6 + 2 * n, iommu_perm::kRead},
                   Area{queue_->used_gpa(), 6 + 8 * n, iommu_perm::kReadWrite}}) {
        auto m = iommu_->map(a.gpa, a.len, a.perm);
        if (!m) return std::unexpected(m.error());
        rings_.push_back(*m);
    }
    // A slot's header, status and segment block comes right before its data
    // buffer (BlkQueue allocates them in that order): map up to the buffer.
    for (unsigned i = 0; i < blk_->depth(); ++i) {
        const uint64_t hdr = blk_->slot_header_gpa(i), data = blk_->slot_data_gpa(i);
        if (data <= hdr) return fail("blk slot {}: data buffer {:#x} is not after its header {:#x}", i, data, hdr);
        auto meta = iommu_->map(hdr, data - hdr, iommu_perm::kReadWrite);
        if (!meta) return std::unexpected(meta.error());
        auto buf = iommu_->map(data, opts_.blk.max_data, iommu_perm::kReadWrite);
        if (!buf) return std::unexpected(buf.error());
        slots_.push_back(SlotMappings{*meta, *buf});
    }
    return {};
}

Result<void> ChannelBlkSession::update_rings() {
    for (const auto& m : rings_) {
        auto r = update(m);
        if (!r) return std::unexpected(r.error());
        if (*r != 0) return fail("back-end refused the ring UPDATE of IOVA {:#x} ({})", m.iova, *r);
    }
    return {};
}

Result<void> ChannelBlkSession::start() {
    if (opts_.access_platform && !(offered_features_ & bit(kAccessPlatform)))
        return fail("back-end does not offer VIRTIO_F_ACCESS_PLATFORM (features {:#x})", offered_features_);
    uint64_t want = supported_blk_features() | bit(vu::kFeatureProtocolFeatures);
    // Indirect tables stay out: the IOMMU maps only what this session knows.
    want &= ~bit(VIRTIO_RING_F_INDIRECT_DESC);
    if (!opts_.event_idx) want &= ~bit(VIRTIO_RING_F_EVENT_IDX);
    if (opts_.access_platform) want |= bit(kAccessPlatform);
    acked_features_ = offered_features_ & want;

    QueueOptions qo;
    qo.size = opts_.queue_size;
    qo.event_idx = acked_features_ & bit(VIRTIO_RING_F_EVENT_IDX);
    auto q = SplitQueue::create(*memory_, 0, qo, opts_.access_platform ? iommu_.get() : nullptr);
    if (!q) return std::unexpected(q.error());
    queue_ = std::move(*q);
    BlkQueueOptions bo = opts_.blk;
    if (bo.depth > opts_.queue_size) bo.depth = opts_.queue_size;
    auto b = BlkQueue::create(*memory_, *queue_, bo);
    if (!b) return std::unexpected(b.error());
    blk_ = std::move(*b);
    if (opts_.access_platform)
        if (auto r = map_rings_and_slots(); !r) return r;

    {
        std::lock_guard lock(client_mutex_);
        if (auto r = client_->set_features(acked_features_); !r) return r;
        if (auto r = client_->set_mem_table(*memory_); !r) return r;
    }
    if (opts_.access_platform && opts_.rings_up_front)
        if (auto r = update_rings(); !r) return r;
    return setup_ring(0);
}

Result<void> ChannelBlkSession::setup_ring(uint32_t base) {
    vu::VringAddr addr{};
    if (opts_.access_platform) {
        addr = vu::VringAddr{0, 0, rings_[0].iova, rings_[2].iova, rings_[1].iova, 0};
    } else {
        auto a = queue_->vring_addr();
        if (!a) return std::unexpected(a.error());
        addr = *a;
    }
    std::lock_guard lock(client_mutex_);
    if (auto r = client_->set_vring_num(0, queue_->size()); !r) return r;
    if (auto r = client_->set_vring_base(0, base); !r) return r;
    if (auto r = client_->set_vring_addr(addr); !r) return r;
    if (auto r = client_->set_vring_kick(0, queue_->kick_fd()); !r) return r;
    if (auto r = client_->set_vring_call(0, queue_->call_fd()); !r) return r;
    return client_->set_vring_enable(0, true);
}

Result<void> ChannelBlkSession::restart() {
    uint32_t base;
    {
        std::lock_guard lock(client_mutex_);
        if (auto r = client_->set_vring_enable(0, false); !r) return r;
        auto b = client_->get_vring_base(0);
        if (!b) return std::unexpected(b.error());
        base = *b;
        if (auto r = client_->set_features(acked_features_); !r) return r;
        if (auto r = client_->set_mem_table(*memory_); !r) return r;
    }
    if (opts_.access_platform && opts_.rings_up_front)
        if (auto r = update_rings(); !r) return r;
    return setup_ring(base);
}

}  // namespace xenvhost::frontend
