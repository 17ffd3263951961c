#pragma once
// The seccomp filter of a guest's process: the system calls its data path
// makes on what it already holds are allowed; everything else fails with
// EPERM (and the kernel logs it): opening files or devices, exec, ptrace,
// signals to other processes, new sockets, mounts, uid changes, forks.
// The list and the reason for each entry are in syscall_filter.cpp.

#include "base/error.hpp"

#include <span>
#include <string_view>

namespace xenvhost::sandbox {

// `extra` names calls a particular program needs beyond the worker's list
// (the device model's, for instance). Installed for the calling thread and
// every thread it creates later; needs no_new_privs (process_limits.hpp).
Result<> install_syscall_filter(std::span<const std::string_view> extra = {});

// The worker's allowlist, for tests and the documentation check.
std::span<const std::string_view> worker_syscalls();

}  // namespace xenvhost::sandbox
