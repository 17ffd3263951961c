#include "vhost_user/backend_channel.hpp"

#include <cstring>

namespace xenvhost::vhost_user {

BackendChannel::BackendChannel(UniqueFd sock, bool want_acks, int timeout_ms)
    : conn_(std::move(sock)), want_acks_(want_acks) {
    (void)conn_.set_timeouts(timeout_ms);
}

Result<> BackendChannel::request(BackendRequest id, std::span<const uint8_t> payload, std::span<const int> fds) {
    std::lock_guard lock(mutex_);
    Header h{static_cast<uint32_t>(id), kVersion | (want_acks_ ? kFlagNeedReply : 0u),
             static_cast<uint32_t>(payload.size())};
    if (auto r = conn_.send(h, payload, fds); !r) return r;
    if (!want_acks_) return {};
    auto reply = conn_.receive();
    if (!reply) return fail("no answer to back-end request {}: {}", static_cast<uint32_t>(id), reply.error().message);
    if (reply->header.request != h.request || reply->header.flags != kReplyFlags || reply->payload.size() != 8)
        return fail("malformed answer to back-end request {}", static_cast<uint32_t>(id));
    uint64_t status;
    std::memcpy(&status, reply->payload.data(), sizeof status);
    if (status != 0) return fail("front-end refused back-end request {} (status {})", static_cast<uint32_t>(id), status);
    return {};
}

}  // namespace xenvhost::vhost_user
