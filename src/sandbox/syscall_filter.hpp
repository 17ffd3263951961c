#pragma once
// The seccomp filter of a guest's process: the system calls its data path
// makes on what it already holds are allowed; everything else fails with
// EPERM (and the kernel logs it): opening files or devices, exec, ptrace,
// signals to other processes, mounts, uid changes, forks, and sockets but
// for the device model's unix ones. The lists and the reason for each entry
// are in worker_syscalls.cpp and device_model_syscalls.cpp.

#include "base/error.hpp"
#include "sandbox/allowlists.hpp"

namespace xenvhost::sandbox {

// Installed for the calling thread and every thread it creates later; needs
// no_new_privs (process_limits.hpp).
Result<> install_syscall_filter(const Allowlist& list);

}  // namespace xenvhost::sandbox
