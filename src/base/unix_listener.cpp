#include "base/unix_listener.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>

namespace xenvhost {

Result<UniqueFd> listen_unix(const std::string& path) {
    // Bound and listening under a temporary name, then renamed into place:
    // a peer that sees the path never gets ECONNREFUSED from a socket bound
    // but not yet listening.
    const std::string staged = path + ".new";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || staged.size() >= sizeof addr.sun_path)
        return fail("socket path '{}' is empty or longer than {} bytes", path, sizeof addr.sun_path - 5);
    std::memcpy(addr.sun_path, staged.c_str(), staged.size() + 1);
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) return fail("'{}' exists and is not a socket", path);
    if (::lstat(staged.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return fail("'{}' exists and is not a socket", staged);
        ::unlink(staged.c_str());
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail_errno("socket");
    UniqueFd sock(fd);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) return fail_errno("bind {}", staged);
    if (::listen(fd, 4) < 0 || ::rename(staged.c_str(), path.c_str()) < 0) {
        auto err = fail_errno("listen on {}", path);
        ::unlink(staged.c_str());
        return err;
    }
    return sock;
}

Result<UniqueFd> accept_connection(int listen_fd) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return fail_errno("accept");
    return UniqueFd(fd);
}

}  // namespace xenvhost
