#include "common/fd_count.hpp"

#include "common/check.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace xenvhost::fuzz {
namespace {

struct DirCloser {
    void operator()(DIR* d) const { ::closedir(d); }
};

template <typename F>
void for_each_fd(F&& f) {
    std::unique_ptr<DIR, DirCloser> dir(::opendir("/proc/self/fd"));
    FUZZ_CHECK(dir != nullptr, "opendir /proc/self/fd: {}", std::strerror(errno));
    const int own = ::dirfd(dir.get());
    while (dirent* e = ::readdir(dir.get())) {
        if (e->d_name[0] == '.') continue;
        const int fd = std::atoi(e->d_name);
        if (fd != own) f(fd);
    }
}

}  // namespace

size_t count_open_fds() {
    size_t n = 0;
    for_each_fd([&](int) { ++n; });
    return n;
}

std::string describe_open_fds() {
    std::string out;
    for_each_fd([&](int fd) {
        char target[PATH_MAX] = {};
        const std::string link = "/proc/self/fd/" + std::to_string(fd);
        const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
        out += fmt::format("{}{} -> {}", out.empty() ? "" : ", ", fd, n > 0 ? target : "?");
    });
    return out;
}

FdLeakGuard::~FdLeakGuard() {
    const size_t after = count_open_fds();
    FUZZ_CHECK(after == before_, "fd leak: {} fds open before the input, {} after: {}", before_, after,
               describe_open_fds());
}

}  // namespace xenvhost::fuzz
