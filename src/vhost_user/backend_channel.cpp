#include "vhost_user/backend_channel.hpp"

#include <poll.h>

#include <cstring>

namespace xenvhost::vhost_user {

BackendChannel::BackendChannel(UniqueFd sock, bool want_acks, int timeout_ms)
    : conn_(std::move(sock)), want_acks_(want_acks) {
    (void)conn_.set_timeouts(timeout_ms);
}

Result<> BackendChannel::discard_late_answers() {
    if (broken_) return fail_as(ErrorKind::kProtocol, "the back-end channel lost step with the front-end");
    // An answer owed by a timed-out request is usually just late: give it a
    // moment. One that still does not come was dropped by the front-end (a
    // protocol without request ids cannot tell more).
    while (owed_answers_ > 0) {
        pollfd w{conn_.fd(), POLLIN, 0};
        if (::poll(&w, 1, 50) != 1) {
            owed_answers_ = 0;
            break;
        }
        if (!conn_.receive()) {
            broken_ = true;
            return fail_as(ErrorKind::kProtocol, "the back-end channel broke while collecting a late answer");
        }
        --owed_answers_;
    }
    // Anything else already waiting is not an answer to what we send next.
    pollfd p{conn_.fd(), POLLIN, 0};
    while (::poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
        if (!conn_.receive()) break;  // a closed channel fails the next send anyway
    }
    return {};
}

Result<> BackendChannel::notify(BackendRequest id, std::span<const uint8_t> payload) {
    std::lock_guard lock(mutex_);
    if (auto r = discard_late_answers(); !r) return r;
    Header h{static_cast<uint32_t>(id), kVersion, static_cast<uint32_t>(payload.size())};
    return conn_.send(h, payload);
}

Result<> BackendChannel::request(BackendRequest id, std::span<const uint8_t> payload, std::span<const int> fds) {
    std::lock_guard lock(mutex_);
    if (auto r = discard_late_answers(); !r) return r;
    Header h{static_cast<uint32_t>(id), kVersion | (want_acks_ ? kFlagNeedReply : 0u),
             static_cast<uint32_t>(payload.size())};
    if (auto r = conn_.send(h, payload, fds); !r) return r;
    if (!want_acks_) return {};
    auto reply = conn_.receive();
    if (!reply) {
        ++owed_answers_;  // it may still come; the next request collects it first
        return fail_as(ErrorKind::kPeerGone, "no answer to back-end request {}: {}", static_cast<uint32_t>(id), reply.error().message);
    }
    if (reply->header.request != h.request || reply->header.flags != kReplyFlags || reply->payload.size() != 8)
        return fail_as(ErrorKind::kProtocol, "malformed answer to back-end request {}", static_cast<uint32_t>(id));
    uint64_t status;
    std::memcpy(&status, reply->payload.data(), sizeof status);
    if (status != 0) return fail_as(ErrorKind::kPolicy, "front-end refused back-end request {} (status {})", static_cast<uint32_t>(id), status);
    return {};
}

}  // namespace xenvhost::vhost_user
