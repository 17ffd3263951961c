#include "sandbox/credentials.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace xenvhost::sandbox {
namespace {

// Bounding set first: it needs CAP_SETPCAP, which the uid change takes away.
Result<> drop_bounding_set() {
    for (int cap = 0;; ++cap) {
        int has = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (has < 0) break;  // EINVAL: past the kernel's last capability
        if (has == 1 && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) return fail_errno("drop capability {} from the bounding set", cap);
    }
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return fail_errno("clear the ambient capabilities");
    return {};
}

// The uid change clears effective and permitted; inheritable stays unless cleared.
Result<> clear_capability_sets() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capset, &header, data) < 0) return fail_errno("capset (clear every set)");
    return {};
}

}  // namespace

Result<> drop_credentials(const Identity& who) {
    if (who.uid == 0 || who.gid == 0) return fail("refusing to drop to uid {} gid {}: that is root", who.uid, who.gid);
    if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return fail_errno("PR_SET_KEEPCAPS 0");
    if (auto r = drop_bounding_set(); !r) return r;
    if (::setgroups(0, nullptr) < 0) return fail_errno("setgroups (none)");
    if (::setresgid(who.gid, who.gid, who.gid) < 0) return fail_errno("setresgid {}", who.gid);
    if (::setresuid(who.uid, who.uid, who.uid) < 0) return fail_errno("setresuid {}", who.uid);
    if (auto r = clear_capability_sets(); !r) return r;
    // The drop must be one way.
    if (::setresuid(0, 0, 0) == 0 || ::setresgid(0, 0, 0) == 0) return fail("root could be regained after the drop");
    uid_t r, e, s;
    if (::getresuid(&r, &e, &s) < 0 || r != who.uid || e != who.uid || s != who.uid)
        return fail("the uid did not change to {}", who.uid);
    return {};
}

}  // namespace xenvhost::sandbox
