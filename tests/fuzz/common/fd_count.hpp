#pragma once
// Open descriptors of this process, to prove an iteration closes every fd it
// was handed (anchors 5.2, cases 1 and 2: count /proc/self/fd before and after).

#include <cstddef>
#include <string>

namespace xenvhost::fuzz {

// Number of open fds (the directory's own fd is not counted).
size_t count_open_fds();
// "3 -> /dev/null, 4 -> memfd:x, ..." for a failure message.
std::string describe_open_fds();

// Checks at scope exit that the fd count is back where it was.
class FdLeakGuard {
public:
    FdLeakGuard() : before_(count_open_fds()) {}
    ~FdLeakGuard();
    FdLeakGuard(const FdLeakGuard&) = delete;
    FdLeakGuard& operator=(const FdLeakGuard&) = delete;

private:
    size_t before_;
};

}  // namespace xenvhost::fuzz
