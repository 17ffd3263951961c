#pragma once
// What the process may become and leave behind: no_new_privs (no set-uid or
// file capability can raise it again, and the syscall filter may be
// installed without privilege), no core dump of the guest memory it maps,
// no ptrace or /proc access by other processes of its uid.

#include "base/error.hpp"

namespace xenvhost::sandbox {

Result<> limit_process();

}  // namespace xenvhost::sandbox
