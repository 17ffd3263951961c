// Whom a guest's processes run as: a uid range (a user or numbers), the
// shared user, root only when allowed; nothing ever maps to uid or gid 0.

#include "sandbox/identity.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/syscall_filter.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>

namespace xenvhost::sandbox {
namespace {

constexpr const char* kNoSuchUser = "xenvhost-test-no-such-user";

TEST(SandboxIdentity, RangeGivesEachGuestItsOwnIdsFromTheDomid) {
    IdentityPolicy p{"3900000000", kNoSuchUser, false};
    auto a = identity_for(p, 5), b = identity_for(p, 6);
    ASSERT_TRUE(a && *a && b && *b);
    EXPECT_EQ(**a, (Identity{3900000005u, 3900000005u}));
    EXPECT_EQ(**b, (Identity{3900000006u, 3900000006u}));
    // The same domid again (a restart) gets the same ids.
    EXPECT_EQ(**identity_for(p, 5), **a);
    p.range_base = "70000:80000";
    EXPECT_EQ(**identity_for(p, 7), (Identity{70007u, 80007u}));
}

TEST(SandboxIdentity, SharedUserWhenTheRangeBaseDoesNotExist) {
    IdentityPolicy p{kNoSuchUser, "4000000000:4000000001", false};
    EXPECT_EQ(**identity_for(p, 5), (Identity{4000000000u, 4000000001u}));
    p.range_base = "";
    EXPECT_EQ(**identity_for(p, 9), (Identity{4000000000u, 4000000001u}));
}

TEST(SandboxIdentity, NoUserIsRefusedUnlessRootIsAllowed) {
    IdentityPolicy p{kNoSuchUser, kNoSuchUser, false};
    auto r = identity_for(p, 5);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("run-as-root = yes"), std::string::npos) << r.error().message;
    p.run_as_root = true;
    auto root = identity_for(p, 5);
    ASSERT_TRUE(root);
    EXPECT_FALSE(root->has_value());
}

TEST(SandboxIdentity, RootAndBadValuesAreNeverAnIdentity) {
    for (auto bad : {"0", "0:5", "5:0", "12x", "4294967295", "-1"}) {
        IdentityPolicy p{bad, kNoSuchUser, true};
        EXPECT_FALSE(identity_for(p, 5)) << bad;
        EXPECT_FALSE(check_user_syntax(bad)) << bad;
    }
    EXPECT_FALSE(check_user_syntax("a user"));
    EXPECT_FALSE(check_user_syntax(""));
    EXPECT_TRUE(check_user_syntax("xenvhost-range-base"));
    EXPECT_TRUE(check_user_syntax("131072"));
    // root's own entry may not be used either.
    IdentityPolicy p{"root", kNoSuchUser, true};
    EXPECT_FALSE(identity_for(p, 5));
    // A base too close to the top leaves no room for the domids.
    p.range_base = "4294960000";
    EXPECT_FALSE(identity_for(p, 5));
    EXPECT_FALSE(identity_for(IdentityPolicy{"100000", "", false}, 0)) << "dom0 is no guest";
}

TEST(SandboxIdentity, CommandLineForm) {
    EXPECT_EQ(*parse_identity("3900000005:3900000005"), (Identity{3900000005u, 3900000005u}));
    for (auto bad : {"5", "0:5", "5:0", ":", "5:", "a:b", "5:5:5"}) EXPECT_FALSE(parse_identity(bad)) << bad;
}

constexpr const char* kNeverAllowed[] = {
    "open", "openat", "openat2", "execve", "execveat", "ptrace", "kill", "bind", "listen", "mount",
    "umount2", "chroot", "pivot_root", "unshare", "setns", "setuid", "setresuid", "setgid", "setresgid",
    "setgroups", "capset", "fork", "vfork", "clone3", "process_vm_readv", "process_vm_writev", "pidfd_open",
    "pidfd_send_signal", "tkill", "rt_sigqueueinfo", "mknod", "mknodat", "unlink", "unlinkat", "rename", "chmod",
    "chown", "symlink", "link", "init_module", "bpf", "perf_event_open", "seccomp"};

bool has(const Allowlist& list, std::string_view name) {
    return std::find(list.names.begin(), list.names.end(), name) != list.names.end();
}

TEST(SandboxSyscallFilter, WorkerAllowlistHasNoWayToOpenExecOrSignal) {
    const Allowlist list = worker_allowlist();
    for (auto refused : kNeverAllowed) EXPECT_FALSE(has(list, refused)) << refused;
    // The worker creates no socket: front-ends and xenvhostd come to the ones it was given.
    EXPECT_FALSE(list.unix_sockets);
    for (auto name : {"socket", "socketpair", "connect"}) EXPECT_FALSE(has(list, name)) << name;
    EXPECT_TRUE(has(list, "io_uring_enter"));
}

TEST(SandboxSyscallFilter, DeviceModelAllowlistReachesOnlyUnixSockets) {
    const Allowlist list = device_model_allowlist();
    for (auto refused : kNeverAllowed) EXPECT_FALSE(has(list, refused)) << refused;
    // socket() and socketpair() are added by the filter for AF_UNIX only (with connect), never by
    // name for every family.
    EXPECT_TRUE(list.unix_sockets);
    for (auto name : {"socket", "socketpair", "connect"}) EXPECT_FALSE(has(list, name)) << name;
    // It serves no image and no front-end.
    for (auto unneeded : {"io_uring_setup", "io_uring_enter", "accept", "accept4", "memfd_create", "prctl"})
        EXPECT_FALSE(has(list, unneeded)) << unneeded;
    for (auto needed : {"ioctl", "mmap", "epoll_wait", "eventfd2", "timerfd_create", "recvmsg", "sendmsg", "dup"})
        EXPECT_TRUE(has(list, needed)) << needed;
}

// The filter as a process meets it: clone3 is ENOSYS (so glibc starts
// threads with clone, which the filter checks), threads still start, and a
// call off the list is EPERM. (clone3's answer comes from a filter that does
// not log: thread starts leave no audit record.)
TEST(SandboxSyscallFilter, ThreadsStartAndRefusalsAreEperm) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(10);
        if (!install_syscall_filter(worker_allowlist())) ::_exit(11);
        errno = 0;
        if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) ::_exit(12);
        // pthread_create, not std::thread: UBSan's check of std::thread's
        // virtual state object reads /proc, which the filter refuses.
        int ran = 0;
        pthread_t t{};
        if (::pthread_create(&t, nullptr, [](void* p) -> void* { *static_cast<int*>(p) = 1; return nullptr; }, &ran) != 0)
            ::_exit(13);
        if (::pthread_join(t, nullptr) != 0 || ran != 1) ::_exit(15);
        errno = 0;
        if (::syscall(SYS_unlink, "/nonexistent-xenvhost-file") != -1 || errno != EPERM) ::_exit(14);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child check " << WEXITSTATUS(status) << " failed";
}

}  // namespace
}  // namespace xenvhost::sandbox
