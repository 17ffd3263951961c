#pragma once
// Small helpers around eventfd counters (kicks, calls, wake-ups).

#include "base/error.hpp"
#include "base/unique_fd.hpp"

#include <sys/eventfd.h>

#include <cstdint>

namespace xenvhost {

inline Result<UniqueFd> make_eventfd(unsigned flags = EFD_CLOEXEC | EFD_NONBLOCK) {
    int fd = ::eventfd(0, flags);
    if (fd < 0) return fail_errno("eventfd");
    return UniqueFd(fd);
}

// Adds 1 to the counter; EAGAIN (counter saturated) still means "signalled".
inline void eventfd_signal(int fd) {
    uint64_t one = 1;
    (void)!::write(fd, &one, sizeof one);
}

// Reads and clears the counter; returns false if nothing was pending.
inline bool eventfd_drain(int fd) {
    uint64_t value;
    return ::read(fd, &value, sizeof value) == sizeof value;
}

}  // namespace xenvhost
