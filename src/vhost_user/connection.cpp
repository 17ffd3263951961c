#include "vhost_user/connection.hpp"

#include "base/received_fds.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <cstring>

namespace xenvhost::vhost_user {
namespace {
// Room for more fds than any message may carry, so "too many" is seen and
// rejected by the table rather than silently truncated.
constexpr size_t kFdRoom = 4 * kMaxFds;
}  // namespace

Result<> Connection::set_timeouts(int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    if (::setsockopt(sock_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        ::setsockopt(sock_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
        return fail_errno("setsockopt timeouts");
    return {};
}

Result<size_t> Connection::recv_part(uint8_t* buf, size_t len, std::vector<UniqueFd>& fds, bool first) {
    size_t got = 0;
    while (got < len) {
        iovec iov{buf + got, len - got};
        alignas(cmsghdr) char control[CMSG_SPACE(kFdRoom * sizeof(int))];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(sock_.get(), &msg, MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return fail_as(ErrorKind::kProtocol, "timed out in the middle of a message");
            return fail_errno("recvmsg");
        }
        // Take ownership of every fd before looking at anything else.
        take_received_fds(msg, [&](int fd) { fds.emplace_back(fd); });
        if (msg.msg_flags & MSG_CTRUNC) return fail_as(ErrorKind::kProtocol, "ancillary data truncated (too many fds)");
        if (n == 0) {
            if (first && got == 0) return fail_as(ErrorKind::kPeerGone, "closed");
            return fail_as(ErrorKind::kProtocol, "peer closed the connection in the middle of a message");
        }
        got += static_cast<size_t>(n);
    }
    return got;
}

Result<Message> Connection::receive() {
    Message m;
    auto h = recv_part(reinterpret_cast<uint8_t*>(&m.header), sizeof m.header, m.fds, true);
    if (!h) return std::unexpected(h.error());
    // The table caps sizes; reading more than that would let a peer make us
    // allocate at will, so refuse before reading the payload.
    if (m.header.size > kMaxPayload)
        return fail_as(ErrorKind::kProtocol, "{}: payload size {} too large", request_name(m.header.request), m.header.size);
    m.payload.resize(m.header.size);
    if (m.header.size) {
        auto p = recv_part(m.payload.data(), m.payload.size(), m.fds, false);
        if (!p) return std::unexpected(p.error());
    }
    return m;
}

Result<> Connection::send(const Header& hdr, std::span<const uint8_t> payload, std::span<const int> fds) {
    iovec iov[2] = {{const_cast<Header*>(&hdr), sizeof hdr},
                    {const_cast<uint8_t*>(payload.data()), payload.size()}};
    alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = payload.empty() ? 1 : 2;
    if (!fds.empty()) {
        if (fds.size() > kMaxFds) return fail("too many fds to send");
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
        std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
    }
    size_t total = sizeof hdr + payload.size();
    ssize_t n;
    do {
        n = ::sendmsg(sock_.get(), &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return fail_errno_as(ErrorKind::kPeerGone, "sendmsg");
    if (static_cast<size_t>(n) != total) return fail("short send ({} of {} bytes)", n, total);
    return {};
}

Result<> Connection::reply(uint32_t request, std::span<const uint8_t> payload, std::span<const int> fds) {
    Header h{request, kReplyFlags, static_cast<uint32_t>(payload.size())};
    return send(h, payload, fds);
}

Result<> Connection::reply_u64(uint32_t request, uint64_t value) {
    return reply(request, {reinterpret_cast<const uint8_t*>(&value), sizeof value});
}

}  // namespace xenvhost::vhost_user
