#include "frontend/connection.hpp"

#include "base/received_fds.hpp"
#include "frontend/clock.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

namespace xenvhost::frontend {

namespace {

Result<sockaddr_un> unix_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return fail("socket path too long: {}", path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

}  // namespace

Result<Connection> Connection::connect(const std::string& path, int retry_ms) {
    auto addr = unix_address(path);
    if (!addr) return std::unexpected(addr.error());
    int64_t deadline = now_ms() + retry_ms;
    for (;;) {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd) return fail_errno("socket");
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) == 0)
            return Connection(std::move(fd));
        int e = errno;
        if ((e != ENOENT && e != ECONNREFUSED) || now_ms() >= deadline) {
            errno = e;
            return fail_errno("connect {}", path);
        }
        ::usleep(10000);
    }
}

Result<void> Connection::send(uint32_t request, uint32_t flags, std::span<const uint8_t> payload,
                              std::span<const int> fds) {
    std::vector<uint8_t> bytes(sizeof(vhost_user::Header) + payload.size());
    vhost_user::Header hdr{request, flags, static_cast<uint32_t>(payload.size())};
    std::memcpy(bytes.data(), &hdr, sizeof hdr);
    if (!payload.empty()) std::memcpy(bytes.data() + sizeof hdr, payload.data(), payload.size());
    return send_raw(bytes, fds);
}

Result<void> Connection::send_raw(std::span<const uint8_t> bytes, std::span<const int> fds) {
    if (!fd_) return fail("send on a closed connection");
    // SCM_MAX_FD in the kernel is 253; more is the caller's mistake, not a test case.
    if (fds.size() > 253) return fail("too many fds for one message: {}", fds.size());
    std::vector<uint8_t> control(CMSG_SPACE(sizeof(int) * fds.size()));
    size_t sent = 0;
    bool fds_sent = fds.empty();
    do {
        iovec iov{const_cast<uint8_t*>(bytes.data()) + sent, bytes.size() - sent};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        if (!fds_sent) {
            msg.msg_control = control.data();
            msg.msg_controllen = control.size();
            cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
            cmsg->cmsg_level = SOL_SOCKET;
            cmsg->cmsg_type = SCM_RIGHTS;
            cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
            std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
        }
        ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EPIPE || errno == ECONNRESET)
                return std::unexpected(Error{"peer closed the connection", kPeerClosed});
            return fail_errno("sendmsg");
        }
        fds_sent = true;
        sent += static_cast<size_t>(n);
    } while (sent < bytes.size());
    return {};
}

Result<void> Connection::shutdown_write() {
    if (::shutdown(fd_.get(), SHUT_WR) != 0) return fail_errno("shutdown");
    return {};
}

Result<void> Connection::read_exact(uint8_t* dst, size_t len, int timeout_ms,
                                    std::vector<UniqueFd>* fds) {
    int64_t deadline = now_ms() + timeout_ms;
    size_t done = 0;
    while (done < len) {
        int64_t left = deadline - now_ms();
        pollfd pfd{fd_.get(), POLLIN, 0};
        int r = ::poll(&pfd, 1, static_cast<int>(left > 0 ? left : 0));
        if (r < 0) {
            if (errno == EINTR) continue;
            return fail_errno("poll");
        }
        if (r == 0) return std::unexpected(Error{"timed out waiting for the back-end", ETIMEDOUT});
        iovec iov{dst + done, len - done};
        alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int) * vhost_user::kMaxFds)];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            if (errno == ECONNRESET) return std::unexpected(Error{"peer closed", kPeerClosed});
            return fail_errno("recvmsg");
        }
        // Take ownership of every received fd before anything else can fail.
        take_received_fds(msg, [&](int fd) {
            if (fds) {
                fds->emplace_back(fd);
            } else {
                ::close(fd);
            }
        });
        if (n == 0) return std::unexpected(Error{"peer closed the connection", kPeerClosed});
        if (msg.msg_flags & MSG_CTRUNC) return fail("back-end sent more fds than a reply may carry");
        done += static_cast<size_t>(n);
    }
    return {};
}

Result<Message> Connection::receive(int timeout_ms) {
    Message m;
    auto r = read_exact(reinterpret_cast<uint8_t*>(&m.header), sizeof m.header, timeout_ms, &m.fds);
    if (!r) return std::unexpected(r.error());
    // Replies are bounded too: a GET_CONFIG reply is the largest (12 + 256).
    if (m.header.size > vhost_user::kMaxPayload)
        return fail("reply to request {} announces {} payload bytes", m.header.request,
                    m.header.size);
    m.payload.resize(m.header.size);
    if (m.header.size) {
        r = read_exact(m.payload.data(), m.payload.size(), timeout_ms, &m.fds);
        if (!r) return std::unexpected(r.error());
    }
    return m;
}

bool Connection::wait_closed(int timeout_ms) {
    if (!fd_) return true;
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) return false;
        pollfd pfd{fd_.get(), POLLIN, 0};
        int r = ::poll(&pfd, 1, static_cast<int>(left));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        uint8_t buf[4096];
        alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int) * vhost_user::kMaxFds)];
        iovec iov{buf, sizeof buf};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n >= 0 && c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                ::close(fd);
            }
        }
        if (n == 0) return true;
        if (n < 0 && errno == ECONNRESET) return true;
    }
}

}  // namespace xenvhost::frontend
