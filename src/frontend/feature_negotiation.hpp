#pragma once
// Connect-time negotiation with a back-end: its virtio features, the
// protocol features both sides use (XEN_MMAP required: without it the
// back-end would mmap the region fds as plain memory), its queue count and
// its config space. Run at create and again on every reconnect.

#include "base/error.hpp"
#include "frontend/frontend_config.hpp"
#include "frontend/request_client.hpp"

#include <cstdint>
#include <vector>

namespace xenvhost::vhost_frontend {

struct Negotiated {
    uint64_t backend_features = 0;  // GET_FEATURES as offered
    uint64_t protocol = 0;          // protocol features acked
    uint16_t num_queues = 1;
    std::vector<uint8_t> config;    // empty if the back-end has no CONFIG

    bool has(unsigned protocol_feature) const { return protocol & (uint64_t{1} << protocol_feature); }
};

// Protocol features this front-end acks when offered.
uint64_t wanted_protocol_features();

// Features the guest's driver may accept: the back-end's ∩ what this
// front-end passes through. Never bit 30 (a vhost-user bit, not a virtio one).
uint64_t guest_features(uint64_t backend_features, RegionKind kind);

// The device type's config space size when the declaration gives none.
uint32_t default_config_size(uint32_t device_id);

Result<Negotiated> negotiate(RequestClient& client, const FrontendConfig& cfg);

// GET_CONFIG of the whole space; a back-end without CONFIG gives an empty one.
Result<std::vector<uint8_t>> read_config(RequestClient& client, uint32_t size);

// SET_FEATURES with the driver's features, plus bit 30 when the back-end
// offered it (it then expects SET_VRING_ENABLE).
Result<> send_features(RequestClient& client, const Negotiated& n, uint64_t driver_features);

}  // namespace xenvhost::vhost_frontend
