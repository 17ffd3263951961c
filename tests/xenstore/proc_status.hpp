#pragma once
// What the sandbox tests read of a guest process in /proc: the fields of
// /proc/PID/status, and the check that the process runs as its guest's
// identity without privilege (sandbox/sandbox.hpp).

#include "tests/xenstore/harness.hpp"

#include <sys/types.h>

#include <map>
#include <string>

namespace xenvhost::xstest {

std::map<std::string, std::string> proc_status(pid_t pid);
std::string first_word(const std::string& s);
// The real uid of `pid`, "" when it is gone.
std::string uid_of(pid_t pid);
// Uid and gid (real, effective, saved, fs) those of dom`domid` in the test's
// range, no groups, no capability in any set, no_new_privs, a seccomp filter,
// mount and network namespaces of its own.
void expect_sandboxed(pid_t pid, unsigned domid);
// The /proc/PID/ns/KIND link of `pid` ("self" for the caller), "" if unreadable.
std::string namespace_of(const std::string& pid, const char* kind);

}  // namespace xenvhost::xstest
