#pragma once
// The back-end request channel (SET_BACKEND_REQ_FD): requests the worker
// sends to the front-end — config changes, IOTLB misses, shared-memory maps.
// Usable from any thread; a front-end that never answers costs one bounded
// wait, never a hung queue.

#include "base/error.hpp"
#include "vhost_user/connection.hpp"

#include <mutex>
#include <span>

namespace xenvhost::vhost_user {

class BackendChannel {
public:
    // `want_acks`: REPLY_ACK was negotiated, so requests ask for an answer.
    BackendChannel(UniqueFd sock, bool want_acks, int timeout_ms = 2000);

    // Sends one request; with acks, waits for the front-end's u64 answer and
    // fails unless it is 0.
    Result<> request(BackendRequest id, std::span<const uint8_t> payload, std::span<const int> fds = {});
    // Sends a request without asking for an answer (as libvhost-user sends
    // CONFIG_CHANGE_MSG): the front-end may talk to us before answering, and
    // the caller is the thread that would have to listen.
    Result<> notify(BackendRequest id, std::span<const uint8_t> payload);

    bool want_acks() const { return want_acks_; }

private:
    // Collects answers still owed by requests that timed out, so they are
    // never taken for the answer to the next one; fails if they do not come.
    Result<> discard_late_answers();

    std::mutex mutex_;
    unsigned owed_answers_ = 0;
    bool broken_ = false;
    Connection conn_;
    bool want_acks_;
};

}  // namespace xenvhost::vhost_user
