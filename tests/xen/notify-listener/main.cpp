// sd-notify-listener SOCKET: the receiving end of systemd's notify protocol,
// for starting a Type=notify service by hand in a dom0 without systemd.
// Binds a datagram socket at SOCKET (set NOTIFY_SOCKET=SOCKET for the
// service), prints "LISTENING SOCKET" once bound, then one line per message:
//   NOTIFY pid=<sender pid> <the message, newlines as spaces>
// The sender's pid comes from SCM_CREDENTIALS, as systemd checks
// NotifyAccess=main with it. Exits 0 on SIGTERM or SIGINT and removes SOCKET.

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "base/unique_fd.hpp"

namespace {

using xenvhost::UniqueFd;

int fail(const char* what) {
    std::fprintf(stderr, "sd-notify-listener: %s: %s\n", what, std::strerror(errno));
    return 1;
}

// Prints one received datagram; false on a receive error.
bool print_message(int fd) {
    std::array<char, 4096> buf{};
    iovec iov{buf.data(), buf.size() - 1};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(ucred))> control{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    long pid = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            ucred cred{};
            std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
            pid = cred.pid;
        }
    }
    std::string text(buf.data(), static_cast<size_t>(n));
    for (char& ch : text) {
        if (ch == '\n' || ch == '\0') ch = ' ';
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    std::printf("NOTIFY pid=%ld %s%s\n", pid, text.c_str(), (msg.msg_flags & MSG_TRUNC) ? " (truncated)" : "");
    std::fflush(stdout);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 || argv[1][0] == '-') {
        std::fprintf(stderr, "usage: sd-notify-listener SOCKET\n");
        return 2;
    }
    const std::string path = argv[1];
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        std::fprintf(stderr, "sd-notify-listener: socket path too long: %s\n", path.c_str());
        return 2;
    }
    std::memcpy(addr.sun_path, path.data(), path.size());

    // Signals arrive through the poll loop, so the socket is always removed.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stop, nullptr) != 0) return fail("sigprocmask");
    UniqueFd sig(::signalfd(-1, &stop, SFD_CLOEXEC));
    if (!sig) return fail("signalfd");

    UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return fail("socket");
    const int on = 1;
    if (::setsockopt(sock.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) return fail("SO_PASSCRED");
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail(path.c_str());
    std::printf("LISTENING %s\n", path.c_str());
    std::fflush(stdout);

    int rc = 0;
    for (;;) {
        std::array<pollfd, 2> fds{{{sock.get(), POLLIN, 0}, {sig.get(), POLLIN, 0}}};
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            rc = fail("poll");
            break;
        }
        if (fds[0].revents & POLLIN && !print_message(sock.get())) {
            rc = fail("recvmsg");
            break;
        }
        if (fds[1].revents & POLLIN) break;
    }
    ::unlink(path.c_str());
    return rc;
}
