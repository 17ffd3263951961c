#include "daemon/fd_limit.hpp"

#include "base/log.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace xenvhost::daemon {

void raise_fd_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) < 0) {
        log::warn("cannot read the fd limit: {}", std::strerror(errno));
        return;
    }
    if (lim.rlim_cur >= lim.rlim_max) {
        log::debug("fd limit {}", lim.rlim_cur);
        return;
    }
    const rlim_t was = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    // The hard limit is the operator's word (LimitNOFILE=); only the soft one is ours to move.
    if (::setrlimit(RLIMIT_NOFILE, &lim) < 0) {
        log::warn("cannot raise the fd limit from {} to {}: {}; about {} guests fit", was, lim.rlim_max,
                  std::strerror(errno), was / 6);
        return;
    }
    log::debug("fd limit raised from {} to {}", was, lim.rlim_cur);
}

}  // namespace xenvhost::daemon
