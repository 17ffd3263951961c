#include "control/fd_passing.hpp"

#include "base/received_fds.hpp"

#include <sys/socket.h>

#include <cstring>

namespace xenvhost::control {

ssize_t send_with_fds(int sock, std::string_view data, std::span<const int> fds) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerLine)] = {};
    if (!fds.empty()) {
        if (fds.size() > kMaxFdsPerLine) {
            errno = EINVAL;
            return -1;
        }
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    return ::sendmsg(sock, &msg, MSG_NOSIGNAL);
}

ssize_t receive_with_fds(int sock, char* buf, size_t len, std::deque<UniqueFd>& fds) {
    iovec iov{buf, len};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerLine)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return n;
    take_received_fds(msg, [&](int fd) { fds.emplace_back(fd); });
    // More fds than we made room for were closed by the kernel (MSG_CTRUNC):
    // the line they came with will find too few and be refused.
    return n;
}

}  // namespace xenvhost::control
