#pragma once
// The inflight area (INFLIGHT_SHMFD): shared memory the back-end allocates
// once, in which it records which requests it took and which it completed.
// The front-end keeps the fd for the device's life and hands the SAME fd to
// every back-end it reconnects to, so a restarted back-end resubmits what
// its predecessor left in flight. The front-end maps it too: without guest
// memory of its own, the area's per-queue header is where it learns the used
// index each ring resumes from.

#include "base/error.hpp"
#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "frontend/request_client.hpp"

#include <cstdint>
#include <optional>

namespace xenvhost::vhost_frontend {

class InflightArea {
public:
    // GET_INFLIGHT_FD for `num_queues` rings of up to `queue_size`; nullopt if
    // the back-end has none to give (mmap_size 0).
    static Result<std::optional<InflightArea>> fetch(RequestClient& client, uint16_t num_queues, uint16_t queue_size);

    // SET_INFLIGHT_FD with this area.
    Result<> send(RequestClient& client) const;
    // The used index the back-end last recorded for a ring of `ring_size`,
    // if the area holds a valid record of that ring.
    std::optional<uint16_t> used_idx(uint16_t queue, uint16_t ring_size) const;
    // After a device reset nothing is in flight: rings start afresh.
    void clear();

private:
    InflightArea() = default;

    UniqueFd fd_;
    Mapping mapping_;
    uint64_t size_ = 0, offset_ = 0;
    uint16_t num_queues_ = 0, queue_size_ = 0;
};

}  // namespace xenvhost::vhost_frontend
