#include "frontend/backend_requests.hpp"

#include "base/log.hpp"
#include "vhost_user/messages.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstring>

namespace xenvhost::vhost_frontend {

namespace vu = vhost_user;

Result<std::unique_ptr<BackendChannel>> BackendChannel::open(event::EventLoop& loop, RequestClient& client,
                                                             bool reply_ack, int timeout_ms, Handlers handlers) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return fail_errno("socketpair");
    UniqueFd ours(sv[0]), theirs(sv[1]);
    vu::Connection conn(std::move(ours));
    if (auto r = conn.set_timeouts(timeout_ms); !r) return pass(r.error());
    const int fds[1] = {theirs.get()};
    if (auto r = client.send(vu::Request::kSetBackendReqFd, {}, fds); !r) return pass(r.error());
    std::unique_ptr<BackendChannel> ch(new BackendChannel(loop, std::move(conn), reply_ack, std::move(handlers)));
    BackendChannel* self = ch.get();
    if (auto r = loop.add(self->conn_.fd(), EPOLLIN, [self](uint32_t) { self->on_readable(); }); !r)
        return pass(r.error());
    return ch;
}

BackendChannel::~BackendChannel() {
    if (!closed_) loop_.remove(conn_.fd());
}

void BackendChannel::close(const Error& why) {
    if (why.kind == ErrorKind::kPeerGone)
        log::debug("back-end request channel closed by the back-end");
    else
        log::warn("back-end request channel closed: {}", why.message);
    loop_.remove(conn_.fd());
    closed_ = true;
}

void BackendChannel::on_readable() {
    auto m = conn_.receive();
    if (!m) return close(m.error());
    const vu::Header& h = m->header;
    if ((h.flags & vu::kVersionMask) != vu::kVersion || (h.flags & ~vu::kKnownFlags) || (h.flags & vu::kFlagReply))
        return close(Error{fmt::format("request {} with flags {:#x}", h.request, h.flags), 0, ErrorKind::kProtocol});
    Result<> done = handle(*m);
    if (!done && done.error().kind == ErrorKind::kProtocol) return close(done.error());
    if (!done) log::warn("back-end request {}: {}", h.request, done.error().message);
    if (reply_ack_ && (h.flags & vu::kFlagNeedReply)) {
        if (auto r = conn_.reply_u64(h.request, done ? vu::kReplyOk : vu::kReplyFailed); !r) close(r.error());
    }
}

Result<> BackendChannel::handle(const vu::Message& m) {
    // Nothing asked for here carries fds; any that came are closed with the message.
    switch (static_cast<vu::BackendRequest>(m.header.request)) {
        case vu::BackendRequest::kConfigChangeMsg:
            handlers_.config_changed();
            return {};
        case vu::BackendRequest::kVringCall: {
            vu::VringState s;
            if (m.payload.size() != sizeof s)
                return fail_as(ErrorKind::kProtocol, "VRING_CALL of {} bytes", m.payload.size());
            std::memcpy(&s, m.payload.data(), sizeof s);
            handlers_.call(static_cast<uint16_t>(s.index));
            return {};
        }
        default:
            return fail_as(ErrorKind::kPolicy, "not supported by this front-end");
    }
}

}  // namespace xenvhost::vhost_frontend
