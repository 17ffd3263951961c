#include "sandbox/process_limits.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>

namespace xenvhost::sandbox {

Result<> limit_process() {
    const rlimit none{0, 0};
    // Guest memory is mapped into the process: a core file would copy it out.
    if (::setrlimit(RLIMIT_CORE, &none) < 0) return fail_errno("RLIMIT_CORE 0");
    // Not dumpable: no core either way, and a restarted worker of the same
    // uid cannot ptrace or read /proc/PID/mem of this one.
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) return fail_errno("PR_SET_DUMPABLE 0");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return fail_errno("PR_SET_NO_NEW_PRIVS");
    return {};
}

}  // namespace xenvhost::sandbox
