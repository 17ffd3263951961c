#include "grant_session.hpp"

#include "frontend/addressing.hpp"
#include "frontend/blk_session.hpp"
#include "frontend/ring_start.hpp"
#include "frontend/virtio_ring.hpp"
#include "frontend/xen_guest_memory.hpp"

#include <fcntl.h>

#include <linux/virtio_config.h>


namespace xenvhost::grantfe {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;
using vu::bit;

Result<std::unique_ptr<GrantSession>> GrantSession::connect(const std::string& socket_path, GrantPool& pool,
                                                            const GrantSessionOptions& opts) {
    std::unique_ptr<GrantSession> s(new GrantSession(pool, opts));
    auto client = frontend::connect_client(socket_path, opts.connect_retry_ms);
    if (!client) return std::unexpected(client.error());
    s->client_ = std::move(*client);
    frontend::NegotiationPlan plan = frontend::xen_frontend_plan(1);
    plan.missing_hint = "; is it running with --domid?";
    auto n = frontend::negotiate(*s->client_, plan);
    if (!n) return std::unexpected(n.error());
    s->negotiated_ = std::move(*n);
    return s;
}

Result<void> GrantSession::start() {
    uint64_t want = frontend::supported_blk_features() & ~bit(VIRTIO_RING_F_INDIRECT_DESC);
    want |= bit(vu::kFeatureProtocolFeatures);
    acked_features_ = negotiated_.offered_features & want;
    if (!(acked_features_ & bit(VIRTIO_F_VERSION_1))) return fail("back-end does not offer VIRTIO_F_VERSION_1");
    if (auto r = client_->set_features(acked_features_); !r) return r;

    auto& mem = pool_.memory();
    frontend::QueueOptions qo;
    qo.size = opts_.queue_size;
    qo.event_idx = acked_features_ & bit(VIRTIO_RING_F_EVENT_IDX);
    qo.region = pool_.largest_run();
    // Descriptors carry 1<<63 | gpa, and gpa = ref<<12 in grant space; in
    // foreign mode, the frame's address itself.
    static const frontend::GrantAddressing grant_addressing(0);
    static const frontend::GpaAddressing gpa_addressing;
    const frontend::DescriptorAddressing* addressing =
        opts_.foreign ? static_cast<const frontend::DescriptorAddressing*>(&gpa_addressing) : &grant_addressing;
    auto q = frontend::SplitQueue::create(mem, 0, qo, addressing);
    if (!q) return fail("rings in the largest run of refs ({} pages): {}", pool_.runs()[*qo.region].pages,
                        q.error().message);
    queue_ = std::move(*q);
    queue_->reset_indices(0);
    frontend::BlkQueueOptions bo = opts_.blk;
    if (bo.depth > opts_.queue_size) bo.depth = opts_.queue_size;
    auto b = frontend::BlkQueue::create(mem, *queue_, bo);
    if (!b) return std::unexpected(b.error());
    blk_ = std::move(*b);

    const auto rings = frontend::ring_areas(queue_->desc_gpa(), queue_->avail_gpa(), queue_->used_gpa(),
                                            opts_.queue_size);
    const uint64_t refs = std::max<uint64_t>(opts_.table_refs, uint64_t{pool_.max_ref()} + 1);
    regions_ = opts_.foreign ? frontend::foreign_region_messages(mem, opts_.domid, -1)
                             : frontend::grant_region_messages(mem, rings, refs << 12, opts_.domid,
                                                               opts_.no_advance_flag, -1);
    if (regions_.size() > vu::kMaxFds)
        return fail("{} regions do not fit one SET_MEM_TABLE ({} fds)", regions_.size(), vu::kMaxFds);
    // Every region carries its own open of the grant (or privcmd) device, as
    // xen-vhost-frontend sends them; the back-end checks which device it is
    // and closes it.
    gntdev_fds_.clear();
    const char* device = opts_.foreign ? "/dev/xen/privcmd" : "/dev/xen/gntdev";
    for (auto& m : regions_) {
        UniqueFd fd(::open(device, O_RDWR | O_CLOEXEC));
        if (!fd) return fail_errno("open {}", device);
        m.fd = fd.get();
        gntdev_fds_.push_back(std::move(fd));
    }
    if (auto r = client_->set_mem_table(regions_); !r) return r;

    auto addr = queue_->vring_addr();
    if (!addr) return std::unexpected(addr.error());
    return frontend::start_ring(*client_, *queue_, 0, *addr, true);
}

Result<uint32_t> GrantSession::stop() {
    if (auto r = client_->set_vring_enable(0, false); !r) return std::unexpected(r.error());
    return client_->get_vring_base(0);
}

std::string GrantSession::describe_table() const {
    std::string out;
    for (const auto& m : regions_) {
        const auto& r = m.region;
        if (!out.empty()) out += '\n';
        out += fmt::format("  region gpa {:#x} (page {}) size {:#x} user {:#x} flags {:#x} domid {}",
                           r.guest_phys_addr, (r.guest_phys_addr & ~frontend::kGrantAddressFlag) >> 12, r.memory_size,
                           r.user_addr, m.xen ? m.xen->flags : 0, m.xen ? m.xen->domid : 0);
    }
    return out;
}

}  // namespace xenvhost::grantfe
