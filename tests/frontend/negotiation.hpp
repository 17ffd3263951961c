#pragma once
// The negotiation every test front-end opens its session with, as QEMU and
// xen-vhost-frontend send it:
//   GET_FEATURES, [GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES], SET_OWNER,
//   [GET_QUEUE_NUM], [GET_MAX_MEM_SLOTS], [GET_CONFIG]
// What each front-end wants differs only in the plan, so the message
// sequence and its checks live here once.

#include "base/error.hpp"
#include "frontend/vhost_client.hpp"
#include "vhost_user/messages.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xenvhost::frontend {

struct NegotiationPlan {
    uint64_t required_features = 0;  // virtio bits the back-end must offer
    // Ack VHOST_USER_F_PROTOCOL_FEATURES (bit 30) and negotiate protocol
    // features when it is offered; false: a front-end that never acks bit 30.
    bool protocol_features = true;
    uint64_t wanted_protocol = 0;    // protocol bits acked when offered
    uint64_t required_protocol = 0;  // protocol bits the back-end must offer (implies bit 30)
    const char* missing_hint = "";   // appended when required protocol bits are missing
    // GET_QUEUE_NUM when MQ is acked (one queue otherwise) and at least
    // this many queues (and not zero) asked for; nullopt: not asked.
    std::optional<uint16_t> num_queues;
    bool max_mem_slots = false;  // GET_MAX_MEM_SLOTS when CONFIGURE_MEM_SLOTS is acked
    uint32_t config_size = 0;    // GET_CONFIG of this many bytes when CONFIG is acked (0: not asked)
};

struct Negotiated {
    uint64_t offered_features = 0, offered_protocol = 0, acked_protocol = 0;
    uint64_t queue_num = 0, max_mem_slots = 0;  // 0 where not asked
    std::vector<uint8_t> config;  // GET_CONFIG's answer (empty when not asked)

    bool has_protocol(unsigned bit) const { return acked_protocol & vhost_user::bit(bit); }
    // The config space's head as T (zeros where the answer is shorter).
    template <class T>
    T config_as() const {
        T value{};
        // An empty answer has no data() to copy from (memcpy's source may not be null).
        if (!config.empty()) std::memcpy(&value, config.data(), std::min(config.size(), sizeof value));
        return value;
    }
};

// What xen-vhost-frontend acks: XEN_MMAP, MQ, CONFIG and REPLY_ACK, all
// required; the blk capacity read from the config space.
NegotiationPlan xen_frontend_plan(uint16_t num_queues);

// Connects to `socket_path` (retrying up to `retry_ms`) and wraps it in a client.
Result<std::unique_ptr<VhostClient>> connect_client(const std::string& socket_path, int retry_ms);

// Runs the negotiation of `plan` on a fresh connection.
Result<Negotiated> negotiate(VhostClient& client, const NegotiationPlan& plan);

}  // namespace xenvhost::frontend
