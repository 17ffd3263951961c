#include "frontend/vring_control.hpp"

#include "vhost_user/messages.hpp"

#include <cstring>

namespace xenvhost::vhost_frontend {

namespace vu = vhost_user;

namespace {

Result<> send_fd(RequestClient& client, vu::Request id, uint16_t index, int fd) {
    const uint64_t u = index;
    const int fds[1] = {fd};
    return client.send(id, bytes_of(u), fds);
}

}  // namespace

Result<> start_ring(RequestClient& client, const Ring& ring, uint16_t base, bool send_enable) {
    const transport::QueueConfig& q = ring.queue;
    if (auto r = client.send(vu::Request::kSetVringNum, bytes_of(vu::VringState{q.index, q.size})); !r) return r;
    const vu::VringAddr addr{q.index, 0, q.desc, q.device, q.driver, 0};
    if (auto r = client.send(vu::Request::kSetVringAddr, bytes_of(addr)); !r) return r;
    if (auto r = client.send(vu::Request::kSetVringBase, bytes_of(vu::VringState{q.index, base})); !r) return r;
    if (auto r = send_fd(client, vu::Request::kSetVringCall, q.index, ring.call.get()); !r) return r;
    if (auto r = send_fd(client, vu::Request::kSetVringErr, q.index, ring.err.get()); !r) return r;
    if (auto r = send_fd(client, vu::Request::kSetVringKick, q.index, ring.kick.get()); !r) return r;
    if (!send_enable) return {};
    return client.send(vu::Request::kSetVringEnable, bytes_of(vu::VringState{q.index, 1}));
}

Result<uint16_t> stop_ring(RequestClient& client, uint16_t index) {
    const vu::VringState asked{index, 0};
    auto m = client.call(vu::Request::kGetVringBase, bytes_of(asked), {sizeof asked, sizeof asked, 0});
    if (!m) return pass(m.error());
    vu::VringState got;
    std::memcpy(&got, m->payload.data(), sizeof got);
    if (got.index != index || got.num > 0xffff)
        return fail_as(ErrorKind::kProtocol, "GET_VRING_BASE: reply {{{}, {:#x}}} for ring {}", got.index, got.num, index);
    return static_cast<uint16_t>(got.num);
}

}  // namespace xenvhost::vhost_frontend
