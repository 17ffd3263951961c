#include "frontend/xen_blk_session.hpp"

#include "frontend/blk_session.hpp"
#include "frontend/ring_start.hpp"
#include "frontend/virtio_ring.hpp"

#include <linux/virtio_config.h>

#include <set>

namespace xenvhost::frontend {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;
using vu::bit;

namespace {

constexpr uint64_t kPage = xendouble::kPageSize;

uint64_t page_align(uint64_t n) { return (n + kPage - 1) / kPage * kPage; }

}  // namespace

Result<std::unique_ptr<XenBlkSession>> XenBlkSession::connect(const std::string& socket_path, XenDoubleFiles& files,
                                                              const XenSessionOptions& opts) {
    std::unique_ptr<XenBlkSession> s(new XenBlkSession(files, opts));
    auto client = connect_client(socket_path, opts.connect_retry_ms);
    if (!client) return std::unexpected(client.error());
    s->client_ = std::move(*client);
    // Memory slots as well when regions are added one by one.
    NegotiationPlan plan = xen_frontend_plan(opts.num_queues);
    if (opts.table == XenTableMessages::kAddMemReg) plan.wanted_protocol |= bit(pf::kConfigureMemSlots);
    plan.required_protocol = plan.wanted_protocol;
    auto n = negotiate(*s->client_, plan);
    if (!n) return std::unexpected(n.error());
    s->negotiated_ = std::move(*n);
    return s;
}

Result<void> XenBlkSession::make_memory() {
    const uint64_t total = files_.pages() * kPage;
    std::vector<RegionLayout> layout;
    size_t ring_region = 0, buffer_region = 0;
    if (opts_.mapping == XenMapping::kGrant) {
        const uint64_t q = opts_.queue_size;
        // Rings, plus the scratch space SplitQueue sets aside per queue.
        const uint64_t per_queue = page_align(16 * q) + page_align(6 + 2 * q) + page_align(6 + 8 * q) + 64 * 1024;
        const uint64_t ring_bytes = page_align(opts_.num_queues * per_queue + kPage);
        if (ring_bytes >= total) return fail("guest of {} bytes has no room beside its rings", total);
        layout = {{0, ring_bytes}, {ring_bytes, total - ring_bytes}};
        buffer_region = 1;
    } else {
        layout = opts_.foreign_ram;
        if (layout.empty()) layout = {{0, total}};
        ring_region = opts_.ring_region;
        buffer_region = opts_.buffer_region;
        if (ring_region >= layout.size() || buffer_region >= layout.size())
            return fail("ring or buffer region index outside the {} RAM ranges", layout.size());
    }
    auto mem = make_xen_guest_memory(files_, layout);
    if (!mem) return std::unexpected(mem.error());
    memory_ = std::make_unique<GuestMemory>(std::move(*mem));

    QueueOptions qo;
    qo.size = opts_.queue_size;
    qo.event_idx = acked_features_ & bit(VIRTIO_RING_F_EVENT_IDX);
    qo.indirect_max = 0;
    qo.region = ring_region;
    XenBlkQueueOptions bo = opts_.blk;
    bo.region = buffer_region;
    if (bo.depth > opts_.queue_size) bo.depth = opts_.queue_size;
    const bool grants = opts_.mapping == XenMapping::kGrant;
    // Descriptors carry grant addresses in grant mode (gref = frame).
    static const GrantAddressing grant_addressing(0);
    for (uint16_t i = 0; i < opts_.num_queues; ++i) {
        auto q = SplitQueue::create(*memory_, i, qo, grants ? &grant_addressing : nullptr);
        if (!q) return std::unexpected(q.error());
        queues_.push_back(std::move(*q));
        auto b = XenBlkQueue::create(*memory_, *queues_.back(), files_, grants, bo);
        if (!b) return std::unexpected(b.error());
        blk_.push_back(std::move(*b));
        auto areas = ring_areas(queues_.back()->desc_gpa(), queues_.back()->avail_gpa(), queues_.back()->used_gpa(),
                                opts_.queue_size);
        rings_.insert(rings_.end(), areas.begin(), areas.end());
    }
    for (auto& q : queues_) q->reset_indices(0);
    if (grants) {
        // Rings come from dma_alloc_coherent: granted writable for their lifetime.
        for (const auto& r : rings_) files_.set_grants(r.gpa, r.len, xendouble::kGrantedWritable);
        regions_ = grant_region_messages(*memory_, rings_, total, opts_.domid, opts_.no_advance_flag,
                                         files_.gntdev_fd());
    } else {
        regions_ = foreign_region_messages(*memory_, opts_.domid, files_.privcmd_fd());
        if (opts_.user_addr_is_gpa)
            for (auto& r : regions_) r.region.user_addr = r.region.guest_phys_addr;
    }
    return {};
}

Result<void> XenBlkSession::prepare(bool send) {
    uint64_t want = supported_blk_features() & ~bit(VIRTIO_RING_F_INDIRECT_DESC);
    if (!opts_.event_idx) want &= ~bit(VIRTIO_RING_F_EVENT_IDX);
    want |= bit(vu::kFeatureProtocolFeatures);
    acked_features_ = negotiated_.offered_features & want;
    if (opts_.num_queues > 1 && !(acked_features_ & bit(VIRTIO_BLK_F_MQ)))
        return fail("{} queues requested but VIRTIO_BLK_F_MQ is not negotiated", opts_.num_queues);
    if (auto r = client_->set_features(acked_features_); !r) return r;
    if (auto r = make_memory(); !r) return r;
    prepared_ = true;
    if (send)
        if (auto r = send_table(regions_); !r) return r;
    return {};
}

Result<void> XenBlkSession::send_table(std::span<const RegionMessage> regions) {
    if (opts_.table == XenTableMessages::kAddMemReg) {
        for (const auto& r : regions)
            if (auto a = client_->add_mem_reg(r); !a) return a;
        return {};
    }
    if (regions.size() > vu::kMaxFds)
        return fail("{} regions do not fit one SET_MEM_TABLE ({} fds); use ADD_MEM_REG", regions.size(),
                    vu::kMaxFds);
    return client_->set_mem_table(regions);
}

Result<void> XenBlkSession::start() {
    if (!prepared_)
        if (auto r = prepare(); !r) return r;
    for (uint16_t i = 0; i < opts_.num_queues; ++i) {
        SplitQueue& q = *queues_[i];
        auto addr = q.vring_addr();
        if (!addr) return std::unexpected(addr.error());
        if (opts_.mapping == XenMapping::kForeign && opts_.user_addr_is_gpa)
            *addr = vu::VringAddr{i, 0, q.desc_gpa(), q.used_gpa(), q.avail_gpa(), q.used_gpa()};
        if (auto r = start_ring(*client_, q, 0, *addr, true); !r) return r;
    }
    return {};
}

Result<std::vector<uint32_t>> XenBlkSession::stop() {
    std::vector<uint32_t> bases;
    for (uint16_t i = 0; i < queues_.size(); ++i) {
        if (auto r = client_->set_vring_enable(i, false); !r) return std::unexpected(r.error());
        auto b = client_->get_vring_base(i);
        if (!b) return std::unexpected(b.error());
        bases.push_back(*b);
    }
    return bases;
}

uint64_t XenBlkSession::ring_pages() const {
    std::set<uint64_t> pages;
    for (const auto& r : rings_)
        for (uint64_t p = r.gpa / kPage; p <= (r.gpa + r.len - 1) / kPage; ++p) pages.insert(p);
    return pages.size();
}

}  // namespace xenvhost::frontend
