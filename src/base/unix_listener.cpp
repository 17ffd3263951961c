#include "base/unix_listener.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>

namespace xenvhost {

Result<UniqueFd> listen_unix(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return fail("socket path '{}' is empty or longer than {} bytes", path, sizeof addr.sun_path - 1);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return fail("'{}' exists and is not a socket", path);
        ::unlink(path.c_str());
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail_errno("socket");
    UniqueFd sock(fd);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) return fail_errno("bind {}", path);
    if (::listen(fd, 4) < 0) return fail_errno("listen {}", path);
    return sock;
}

Result<UniqueFd> accept_connection(int listen_fd) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return fail_errno("accept");
    return UniqueFd(fd);
}

}  // namespace xenvhost
