#include "daemon/xenstored_monitor.hpp"

#include "base/log.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace xenvhost::daemon {

std::string XenstoredMonitor::socket_path() {
    if (const char* p = std::getenv("XENSTORED_PATH"); p && *p) return p;
    const char* dir = std::getenv("XENSTORED_RUNDIR");
    return std::string(dir && *dir ? dir : "/var/run/xenstored") + "/socket";
}

Result<std::unique_ptr<XenstoredMonitor>> XenstoredMonitor::create(event::EventLoop& loop,
                                                                   std::function<void(const std::string&)> lost) {
    std::string path = socket_path();
    struct stat st{};
    if (::stat(path.c_str(), &st) < 0 || !S_ISSOCK(st.st_mode)) return std::unique_ptr<XenstoredMonitor>();
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return fail("xenstored socket path {} is too long", path);
    std::memcpy(addr.sun_path, path.data(), path.size());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        return fail_errno("connect {} (second connection to watch xenstored)", path);
    int raw = fd.get();
    std::unique_ptr<XenstoredMonitor> m(new XenstoredMonitor(loop, std::move(fd), std::move(path), std::move(lost)));
    XenstoredMonitor* self = m.get();
    if (auto r = loop.add(raw, EPOLLIN | EPOLLRDHUP, [self](uint32_t ev) { self->on_ready(ev); }); !r)
        return std::unexpected(r.error());
    return m;
}

XenstoredMonitor::~XenstoredMonitor() {
    if (fd_) loop_.remove(fd_.get());
}

void XenstoredMonitor::on_ready(uint32_t events) {
    char byte;
    ssize_t n = ::recv(fd_.get(), &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && !(events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))) return;
    // Reported once: the fd leaves the loop before anyone is told.
    loop_.remove(fd_.get());
    fd_.reset();
    if (n > 0) {
        // Not a loss; but the connection can no longer tell us anything.
        log::warn("xenstored wrote to an idle connection on {}; relying on the periodic check", path_);
        return;
    }
    std::string why = n == 0 ? "xenstored closed its socket " + path_
                             : fmt::format("xenstored socket {}: {}", path_, std::strerror(errno));
    auto lost = lost_;  // may destroy us
    if (lost) lost(why);
}

}  // namespace xenvhost::daemon
