#include "sandbox/allowlists.hpp"

namespace xenvhost::sandbox {
namespace {

// Grouped by why the worker needs them after the drop. Nothing here takes a
// path or creates a new kernel object that names something outside the
// process (memfd and eventfd/timerfd/epoll are anonymous).
constexpr std::string_view kWorkerSyscalls[] = {
    // Image I/O goes through io_uring; its rings are created per started queue. A ring can
    // open paths and make sockets past this filter: the empty root and the empty network
    // namespace (file_view.hpp, network_view.hpp) are what leave it nothing to reach.
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    // ... except on tmpfs and ramfs, where the queue thread copies itself (blk_queue.cpp).
    "preadv2", "pwritev2",
    // vhost-user messages (with fds), control lines, eventfd kicks and calls, logging to stderr.
    "read", "write", "readv", "writev", "pread64", "pwrite64", "recvmsg", "sendmsg", "recvfrom", "sendto",
    // Front-ends and xenvhostd connect to sockets handed over before the drop.
    "accept", "accept4", "shutdown", "getsockopt", "setsockopt", "getsockname", "getpeername",
    // Guest memory: mmap of the front-end's region fds, of gntdev and privcmd; the heap.
    "mmap", "munmap", "mremap", "mprotect", "madvise", "brk",
    // Grant and foreign mapping calls on the handles already open (restricted to the guest),
    // block-device size queries on SIGHUP.
    "ioctl",
    // The inflight area the back-end allocates for GET_INFLIGHT_FD (anonymous memory).
    "memfd_create", "ftruncate",
    // The event loop and the queue threads' wakeups and timeouts.
    "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2", "timerfd_create",
    "timerfd_settime", "timerfd_gettime", "poll", "ppoll",
    // fds received and closed; image facts (fstat/statx/fstatfs on an fd, the size after SIGHUP).
    "close", "fcntl", "dup", "dup3", "fstat", "newfstatat", "statx", "fstatfs", "lseek",
    // Threads (clone is limited to CLONE_THREAD by the filter), their locks and exits.
    "futex", "set_robust_list", "rseq", "exit", "exit_group", "sched_yield", "sched_getaffinity",
    "gettid", "getpid", "getuid", "geteuid", "getgid", "getegid", "prctl",
    // Signals: the signalfd's mask, SIGPIPE ignored, abort() (tgkill to ourselves; kill is refused).
    "rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "sigaltstack", "tgkill", "signalfd4", "restart_syscall",
    // Time for logs, timeouts and backoff.
    "clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday", "getrandom",
};

}  // namespace

Allowlist worker_allowlist() { return {kWorkerSyscalls, false}; }

}  // namespace xenvhost::sandbox
