#pragma once
// Hands one split queue to the back-end as every session does:
// SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR, SET_VRING_KICK,
// SET_VRING_CALL, then SET_VRING_ENABLE 1 when `enable` (without bit 30
// acked a ring starts enabled and the message does not exist).

#include "base/error.hpp"
#include "frontend/split_queue.hpp"
#include "frontend/vhost_client.hpp"

#include <cstdint>

namespace xenvhost::frontend {

Result<void> start_ring(VhostClient& client, const SplitQueue& queue, uint32_t base,
                        const vhost_user::VringAddr& addr, bool enable);

}  // namespace xenvhost::frontend
