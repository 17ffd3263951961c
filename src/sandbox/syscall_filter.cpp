#include "sandbox/syscall_filter.hpp"

#include <sched.h>
#include <seccomp.h>

#include <memory>

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
    // fds received and closed; image facts (fstat/statx on an fd, the size after SIGHUP).
    "close", "fcntl", "dup", "dup3", "fstat", "newfstatat", "statx", "lseek",
    // Threads (clone is limited to CLONE_THREAD below), their locks and exits.
    "futex", "set_robust_list", "rseq", "exit", "exit_group", "sched_yield", "sched_getaffinity",
    "gettid", "getpid", "getuid", "geteuid", "getgid", "getegid", "prctl",
    // Signals: the signalfd's mask, SIGPIPE ignored, abort() (tgkill to ourselves; kill is refused).
    "rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "sigaltstack", "tgkill", "signalfd4", "restart_syscall",
    // Time for logs, timeouts and backoff.
    "clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday", "getrandom",
};

struct ContextDeleter {
    void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

Result<> allow(scmp_filter_ctx ctx, std::string_view name) {
    std::string n(name);
    int nr = seccomp_syscall_resolve_name(n.c_str());
    if (nr == __NR_SCMP_ERROR) return {};  // not a system call on this architecture
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0); rc < 0)
        return fail("seccomp: allow {}: {}", name, std::strerror(-rc));
    return {};
}

}  // namespace

std::span<const std::string_view> worker_syscalls() { return kWorkerSyscalls; }

Result<> install_syscall_filter(std::span<const std::string_view> extra) {
    Context ctx(seccomp_init(SCMP_ACT_ERRNO(EPERM)));
    if (!ctx) return fail("seccomp_init failed");
    // Refusals reach the kernel log (kernel.seccomp.actions_logged has errno by default).
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_LOG, 1); rc < 0)
        return fail("seccomp: log refusals: {}", std::strerror(-rc));
    for (auto name : kWorkerSyscalls)
        if (auto r = allow(ctx.get(), name); !r) return r;
    for (auto name : extra)
        if (auto r = allow(ctx.get(), name); !r) return r;
    // Threads only: a process (fork) could exec nothing, but would be a second copy of guest memory.
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
        rc < 0)
        return fail("seccomp: allow clone of threads: {}", std::strerror(-rc));
    // clone3's flags are in memory the filter cannot read: ENOSYS makes glibc use clone.
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0); rc < 0)
        return fail("seccomp: clone3: {}", std::strerror(-rc));
    if (int rc = seccomp_load(ctx.get()); rc < 0) return fail("seccomp: load the filter: {}", std::strerror(-rc));
    return {};
}

}  // namespace xenvhost::sandbox
