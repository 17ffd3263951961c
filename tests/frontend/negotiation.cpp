#include "frontend/negotiation.hpp"

namespace xenvhost::frontend {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;
using vu::bit;

Result<std::unique_ptr<VhostClient>> connect_client(const std::string& socket_path, int retry_ms) {
    auto conn = Connection::connect(socket_path, retry_ms);
    if (!conn) return std::unexpected(conn.error());
    return std::make_unique<VhostClient>(std::move(*conn));
}

NegotiationPlan xen_frontend_plan(uint16_t num_queues) {
    NegotiationPlan plan;
    plan.wanted_protocol = bit(pf::kXenMmap) | bit(pf::kMq) | bit(pf::kConfig) | bit(pf::kReplyAck);
    plan.required_protocol = plan.wanted_protocol;
    plan.num_queues = num_queues;
    plan.config_size = sizeof(uint64_t);  // virtio_blk_config.capacity
    return plan;
}

Result<Negotiated> negotiate(VhostClient& client, const NegotiationPlan& plan) {
    Negotiated n;
    auto features = client.get_features();
    if (!features) return std::unexpected(features.error());
    n.offered_features = *features;
    // Protocol bits can only be had through bit 30.
    const uint64_t required =
        plan.required_features | (plan.required_protocol ? bit(vu::kFeatureProtocolFeatures) : 0);
    if (const uint64_t missing = required & ~n.offered_features)
        return fail("back-end does not offer features {:#x} (features {:#x})", missing, n.offered_features);

    // A front-end that will not ack bit 30 does not use protocol features.
    if (plan.protocol_features && (n.offered_features & bit(vu::kFeatureProtocolFeatures))) {
        auto proto = client.get_protocol_features();
        if (!proto) return std::unexpected(proto.error());
        n.offered_protocol = *proto;
        // XEN_MMAP by name: without it the back-end is not in Xen mode at all.
        if (plan.required_protocol & ~n.offered_protocol & bit(pf::kXenMmap))
            return fail("back-end does not offer XEN_MMAP (protocol features {:#x}){}", n.offered_protocol,
                        plan.missing_hint);
        if (const uint64_t missing = plan.required_protocol & ~n.offered_protocol)
            return fail("back-end does not offer protocol features {:#x} (protocol features {:#x}){}", missing,
                        n.offered_protocol, plan.missing_hint);
        n.acked_protocol = n.offered_protocol & plan.wanted_protocol;
        if (auto r = client.set_protocol_features(n.acked_protocol); !r) return std::unexpected(r.error());
        // The client switches to 40-byte regions itself; a table sent otherwise would be misread.
        if (n.has_protocol(pf::kXenMmap) && client.region_format() != RegionFormat::kXen)
            return fail("XEN_MMAP acked but the client did not switch to 40-byte regions");
    }
    if (auto r = client.set_owner(); !r) return std::unexpected(r.error());

    if (plan.num_queues) {
        n.queue_num = 1;
        if (n.has_protocol(pf::kMq)) {
            auto q = client.get_queue_num();
            if (!q) return std::unexpected(q.error());
            n.queue_num = *q;
        }
        if (*plan.num_queues == 0 || *plan.num_queues > n.queue_num)
            return fail("{} queues requested, back-end has {}", *plan.num_queues, n.queue_num);
    }
    if (plan.max_mem_slots && n.has_protocol(pf::kConfigureMemSlots)) {
        auto slots = client.get_max_mem_slots();
        if (!slots) return std::unexpected(slots.error());
        n.max_mem_slots = *slots;
    }
    if (plan.config_size && n.has_protocol(pf::kConfig)) {
        auto cfg = client.get_config(0, plan.config_size);
        if (!cfg) return std::unexpected(cfg.error());
        n.config = std::move(*cfg);
    }
    return n;
}

}  // namespace xenvhost::frontend
