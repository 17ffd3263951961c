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

    bool want_acks() const { return want_acks_; }

private:
    std::mutex mutex_;
    Connection conn_;
    bool want_acks_;
};

}  // namespace xenvhost::vhost_user
