#include "frontend/request_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

namespace xenvhost::vhost_frontend {

namespace vu = vhost_user;

Result<RequestClient> RequestClient::connect(const std::string& socket_path, int timeout_ms) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path)
        return fail_as(ErrorKind::kPolicy, "socket path '{}' is empty or too long", socket_path);
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock) return fail_errno("socket");
    // A unix connect does not block on a listener with room in its backlog.
    if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return fail_errno_as(ErrorKind::kPeerGone, "connect {}", socket_path);
    return adopt(std::move(sock), timeout_ms);
}

Result<RequestClient> RequestClient::adopt(UniqueFd sock, int timeout_ms) {
    RequestClient c(std::move(sock));
    if (auto r = c.conn_.set_timeouts(timeout_ms); !r) return pass(r.error());
    return c;
}

Result<> RequestClient::write(vu::Request id, uint32_t flags, std::span<const uint8_t> payload,
                              std::span<const int> fds) {
    vu::Header h{static_cast<uint32_t>(id), flags, static_cast<uint32_t>(payload.size())};
    if (auto r = conn_.send(h, payload, fds); !r)
        return fail_as(ErrorKind::kPeerGone, "{}: {}", vu::request_name(h.request), r.error().message);
    return {};
}

Result<> RequestClient::send(vu::Request id, std::span<const uint8_t> payload, std::span<const int> fds) {
    const uint32_t flags = vu::kVersion | (reply_ack_ ? vu::kFlagNeedReply : 0);
    if (auto r = write(id, flags, payload, fds); !r) return r;
    if (!reply_ack_) return {};
    auto ack = await_reply(id, {sizeof(uint64_t), sizeof(uint64_t), 0});
    if (!ack) return pass(ack.error());
    uint64_t status;
    std::memcpy(&status, ack->payload.data(), sizeof status);
    // A refusal keeps the connection: the back-end said no, it did not break the protocol.
    if (status != vu::kReplyOk)
        return fail_as(ErrorKind::kPolicy, "{} refused by the back-end (status {:#x})", vu::request_name(static_cast<uint32_t>(id)), status);
    return {};
}

Result<vu::Message> RequestClient::call(vu::Request id, std::span<const uint8_t> payload, ReplyShape shape) {
    // Messages with a reply body never take NEED_REPLY: the body is the answer.
    if (auto r = write(id, vu::kVersion, payload, {}); !r) return pass(r.error());
    return await_reply(id, shape);
}

Result<uint64_t> RequestClient::get_u64(vu::Request id) {
    auto m = call(id, {}, {sizeof(uint64_t), sizeof(uint64_t), 0});
    if (!m) return pass(m.error());
    uint64_t v;
    std::memcpy(&v, m->payload.data(), sizeof v);
    return v;
}

Result<vu::Message> RequestClient::await_reply(vu::Request id, ReplyShape shape) {
    const auto name = vu::request_name(static_cast<uint32_t>(id));
    auto m = conn_.receive();
    if (!m) {
        const ErrorKind kind = m.error().kind == ErrorKind::kPeerGone ? ErrorKind::kPeerGone : ErrorKind::kProtocol;
        return fail_as(kind, "{}: no reply: {}", name, m.error().message);
    }
    const vu::Header& h = m->header;
    // Replies are the one message the back-end may send here, so anything
    // else (a request, another id, NEED_REPLY) is the peer out of step.
    if (h.flags != vu::kReplyFlags)
        return fail_as(ErrorKind::kProtocol, "{}: reply flags {:#x}, expected {:#x}", name, h.flags, vu::kReplyFlags);
    if (h.request != static_cast<uint32_t>(id))
        return fail_as(ErrorKind::kProtocol, "{}: reply is for request {} ({})", name, h.request, vu::request_name(h.request));
    if (h.size < shape.min_size || h.size > shape.max_size)
        return fail_as(ErrorKind::kProtocol, "{}: reply of {} bytes, expected {}..{}", name, h.size, shape.min_size, shape.max_size);
    if (m->fds.size() > shape.fds)
        return fail_as(ErrorKind::kProtocol, "{}: reply carries {} fds, at most {} allowed", name, m->fds.size(), shape.fds);
    return m;
}

}  // namespace xenvhost::vhost_frontend
