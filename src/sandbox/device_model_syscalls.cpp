#include "sandbox/allowlists.hpp"

namespace xenvhost::sandbox {
namespace {

// Grouped by why xenvhost-dm needs them after the drop: it answers the
// guest's ioreqs on handles opened (and restricted to the guest) before,
// and talks vhost-user to its back-ends, reconnecting by path to the socket
// directories bound into its root. No io_uring, accept, memfd: it serves no
// image and no front-end.
constexpr std::string_view kDeviceModelSyscalls[] = {
    // vhost-user requests and replies (with the region and eventfd fds), kicks and calls, logs to stderr.
    "read", "write", "readv", "writev", "recvmsg", "sendmsg", "recvfrom", "sendto",
    // A back-end reconnected after its worker restarts: socket(AF_UNIX), socketpair(AF_UNIX) (its
    // request channel) and connect are added by the filter; a non-blocking connect's result, and a
    // connection torn down.
    "getsockopt", "setsockopt", "shutdown",
    // The ioreq page (mapped before the drop), the heap; munmap at teardown.
    "mmap", "munmap", "mremap", "mprotect", "madvise", "brk",
    // DMOPs and event channel calls on the Xen handles already open and restricted to the guest.
    "ioctl",
    // The Xen double's state lock in the tests (an fd opened before the drop; nothing on Xen).
    "flock",
    // The event loop: vCPU event channels, kick/call eventfds, reconnect and reply timers.
    "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2", "timerfd_create",
    "timerfd_settime", "timerfd_gettime", "poll", "ppoll",
    // fds duplicated for each memory table (privcmd, gntdev), received and closed.
    "close", "fcntl", "dup", "dup3", "fstat", "newfstatat", "lseek",
    // Locks and exits (threads only through clone with CLONE_THREAD, as the filter allows). No prctl:
    // it would make the process dumpable again, to the guest's worker of the same uid.
    "futex", "set_robust_list", "rseq", "exit", "exit_group", "sched_yield", "gettid", "getpid", "getuid",
    "geteuid", "getgid", "getegid",
    // Signals: the signalfd's mask, SIGPIPE ignored, abort() (tgkill to ourselves; kill is refused).
    "rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "sigaltstack", "tgkill", "signalfd4", "restart_syscall",
    // Time for logs, timeouts and backoff.
    "clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday", "getrandom",
};

}  // namespace

Allowlist device_model_allowlist() { return {kDeviceModelSyscalls, true}; }

}  // namespace xenvhost::sandbox
