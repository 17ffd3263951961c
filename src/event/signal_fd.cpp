#include "event/signal_fd.hpp"

#include <signal.h>
#include <sys/signalfd.h>

namespace xenvhost::event {

Result<UniqueFd> block_into_signalfd(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : signals) sigaddset(&set, sig);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) < 0) return fail_errno("sigprocmask");
    UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd) return fail_errno("signalfd");
    return fd;
}

}  // namespace xenvhost::event
