#include "sandbox/syscall_filter.hpp"

#include <sched.h>
#include <sys/socket.h>
#include <seccomp.h>

#include <memory>

namespace xenvhost::sandbox {
namespace {

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

// clone3's flags are in memory a filter cannot read: ENOSYS makes glibc fall
// back to clone, whose flags the main filter checks. This answer is expected
// at every thread start, so it lives in a filter of its own without logging;
// when filters disagree the kernel takes the strictest answer (ENOSYS over
// the main filter's allow) and logs by the filter that gave it.
Result<> install_clone3_filter() {
    Context ctx(seccomp_init(SCMP_ACT_ALLOW));
    if (!ctx) return fail("seccomp_init failed");
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0); rc < 0)
        return fail("seccomp: clone3: {}", std::strerror(-rc));
    if (int rc = seccomp_load(ctx.get()); rc < 0) return fail("seccomp: load the clone3 filter: {}", std::strerror(-rc));
    return {};
}

}  // namespace

Result<> install_syscall_filter(const Allowlist& list) {
    if (auto r = install_clone3_filter(); !r) return r;
    Context ctx(seccomp_init(SCMP_ACT_ERRNO(EPERM)));
    if (!ctx) return fail("seccomp_init failed");
    // Refusals reach the kernel log (kernel.seccomp.actions_logged has errno by default).
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_LOG, 1); rc < 0)
        return fail("seccomp: log refusals: {}", std::strerror(-rc));
    for (auto name : list.names)
        if (auto r = allow(ctx.get(), name); !r) return r;
    if (list.unix_sockets) {
        // Unix sockets only (any type): no network, no netlink, no packet sockets. socketpair for
        // the back-end request channel each connection opens.
        for (int nr : {SCMP_SYS(socket), SCMP_SYS(socketpair)})
            if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, nr, 1, SCMP_A0_32(SCMP_CMP_EQ, AF_UNIX, 0)); rc < 0)
                return fail("seccomp: allow unix sockets: {}", std::strerror(-rc));
        // connect reaches only what the private root shows and the socket's permissions allow.
        if (auto r = allow(ctx.get(), "connect"); !r) return r;
    }
    // Threads only: a process (fork) could exec nothing, but would be a second copy of guest memory.
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
        rc < 0)
        return fail("seccomp: allow clone of threads: {}", std::strerror(-rc));
    // Answered ENOSYS by the clone3 filter above; allowed here so that the
    // refusal is that filter's, which does not log.
    if (auto r = allow(ctx.get(), "clone3"); !r) return r;
    if (int rc = seccomp_load(ctx.get()); rc < 0) return fail("seccomp: load the filter: {}", std::strerror(-rc));
    return {};
}

}  // namespace xenvhost::sandbox
