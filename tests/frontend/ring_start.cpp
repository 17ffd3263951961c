#include "frontend/ring_start.hpp"

namespace xenvhost::frontend {

Result<void> start_ring(VhostClient& client, const SplitQueue& queue, uint32_t base,
                        const vhost_user::VringAddr& addr, bool enable) {
    const uint16_t i = queue.index();
    if (auto r = client.set_vring_num(i, queue.size()); !r) return r;
    if (auto r = client.set_vring_base(i, base); !r) return r;
    if (auto r = client.set_vring_addr(addr); !r) return r;
    if (auto r = client.set_vring_kick(i, queue.kick_fd()); !r) return r;
    if (auto r = client.set_vring_call(i, queue.call_fd()); !r) return r;
    if (enable) return client.set_vring_enable(i, true);
    return {};
}

}  // namespace xenvhost::frontend
