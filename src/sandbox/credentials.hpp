#pragma once
// Giving up root for good: the guest's uid and gid, no supplementary groups,
// and no capability left in any set (effective, permitted, inheritable,
// ambient, bounding), so nothing the process runs later can get them back.

#include "base/error.hpp"
#include "sandbox/identity.hpp"

namespace xenvhost::sandbox {

// Must run as root (CAP_SETUID, CAP_SETGID, CAP_SETPCAP), before the syscall
// filter (which refuses these calls). Checks afterwards that root cannot be
// regained.
Result<> drop_credentials(const Identity& who);

}  // namespace xenvhost::sandbox
