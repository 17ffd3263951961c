#include "frontend/feature_negotiation.hpp"

#include "virtio/ring_layout.hpp"

#include <linux/virtio_blk.h>

#include <cstring>

namespace xenvhost::vhost_frontend {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;
using vu::bit;

namespace {

// Device-specific bits 0-23 pass through; of the transport bits only those
// this front-end knows how to carry. ACCESS_PLATFORM means "addresses are
// not guest-physical", which is true of grant addresses only.
uint64_t passed_through(RegionKind kind) {
    uint64_t mask = (uint64_t{1} << 24) - 1;
    mask |= bit(virtio::kFVersion1) | bit(virtio::kFEventIdx) | bit(virtio::kFIndirectDesc);
    if (kind == RegionKind::kGrant) mask |= bit(virtio::kFAccessPlatform);
    return mask;
}

Result<uint16_t> queue_count(RequestClient& client, const Negotiated& n) {
    if (!n.has(pf::kMq)) return uint16_t{1};
    auto q = client.get_u64(vu::Request::kGetQueueNum);
    if (!q) return pass(q.error());
    // Ring indices travel in 8 bits (SET_VRING_KICK and friends).
    if (*q == 0 || *q > vu::kVringIndexMask + 1)
        return fail_as(ErrorKind::kProtocol, "GET_QUEUE_NUM: {} queues is not a possible answer", *q);
    return static_cast<uint16_t>(*q);
}

}  // namespace

uint64_t wanted_protocol_features() {
    return bit(pf::kXenMmap) | bit(pf::kMq) | bit(pf::kConfig) | bit(pf::kReplyAck) | bit(pf::kInflightShmfd) |
           bit(pf::kBackendReq) | bit(pf::kBackendSendFd) | bit(pf::kResetDevice) | bit(pf::kStatus);
}

uint64_t guest_features(uint64_t backend_features, RegionKind kind) {
    return backend_features & passed_through(kind);
}

uint32_t default_config_size(uint32_t device_id) {
    switch (device_id) {
        case 2: return sizeof(virtio_blk_config);
        default: return 0;
    }
}

Result<Negotiated> negotiate(RequestClient& client, const FrontendConfig& cfg) {
    Negotiated n;
    auto features = client.get_u64(vu::Request::kGetFeatures);
    if (!features) return pass(features.error());
    n.backend_features = *features;
    // Protocol features, XEN_MMAP among them, exist only behind bit 30.
    if (!(n.backend_features & bit(vu::kFeatureProtocolFeatures)))
        return fail_as(ErrorKind::kPolicy, "back-end at {} offers no protocol features, so no XEN_MMAP", cfg.socket_path);
    if (!(n.backend_features & bit(virtio::kFVersion1)))
        return fail_as(ErrorKind::kPolicy, "back-end at {} does not offer VIRTIO_F_VERSION_1", cfg.socket_path);
    auto offered = client.get_u64(vu::Request::kGetProtocolFeatures);
    if (!offered) return pass(offered.error());
    if (!(*offered & bit(pf::kXenMmap)))
        return fail_as(ErrorKind::kPolicy,
                       "back-end at {} does not offer XEN_MMAP (protocol features {:#x}): it cannot map Xen guest "
                       "memory (a worker started without a domid?)",
                       cfg.socket_path, *offered);
    n.protocol = *offered & wanted_protocol_features();
    // Sending fds on the back-end channel only makes sense with the channel.
    if (!n.has(pf::kBackendReq)) n.protocol &= ~bit(pf::kBackendSendFd);
    if (auto r = client.send_u64(vu::Request::kSetProtocolFeatures, n.protocol); !r) return pass(r.error());
    client.set_reply_ack(n.has(pf::kReplyAck));
    if (auto r = client.send(vu::Request::kSetOwner); !r) return pass(r.error());
    auto queues = queue_count(client, n);
    if (!queues) return pass(queues.error());
    n.num_queues = *queues;
    if (n.has(pf::kConfig)) {
        const uint32_t size = cfg.config_size ? cfg.config_size : default_config_size(cfg.device_id);
        auto config = read_config(client, size);
        if (!config) return pass(config.error());
        n.config = std::move(*config);
    }
    return n;
}

Result<std::vector<uint8_t>> read_config(RequestClient& client, uint32_t size) {
    if (size == 0) return std::vector<uint8_t>{};
    if (size > vu::kMaxConfigSize) return fail_as(ErrorKind::kPolicy, "config size {} above {}", size, vu::kMaxConfigSize);
    std::vector<uint8_t> req(sizeof(vu::ConfigHeader) + size);
    const vu::ConfigHeader h{0, size, 0};
    std::memcpy(req.data(), &h, sizeof h);
    // An empty reply is the back-end's way of saying it failed.
    auto m = client.call(vu::Request::kGetConfig, req, {0, req.size(), 0});
    if (!m) return pass(m.error());
    if (m->payload.empty()) return fail_as(ErrorKind::kPolicy, "GET_CONFIG of {} bytes refused by the back-end", size);
    if (m->payload.size() != req.size())
        return fail_as(ErrorKind::kProtocol, "GET_CONFIG: reply of {} bytes, expected {}", m->payload.size(), req.size());
    vu::ConfigHeader got;
    std::memcpy(&got, m->payload.data(), sizeof got);
    if (got.offset != 0 || got.size != size)
        return fail_as(ErrorKind::kProtocol, "GET_CONFIG: reply for {}+{}, asked 0+{}", got.offset, got.size, size);
    return std::vector<uint8_t>(m->payload.begin() + sizeof got, m->payload.end());
}

Result<> send_features(RequestClient& client, const Negotiated& n, uint64_t driver_features) {
    const uint64_t f = driver_features | (n.backend_features & bit(vu::kFeatureProtocolFeatures));
    return client.send_u64(vu::Request::kSetFeatures, f);
}

}  // namespace xenvhost::vhost_frontend
