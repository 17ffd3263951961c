#pragma once
// What the bench reads from /proc: a process's CPU time and credentials, and
// the host's load.

#include "base/error.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace xenvhost::bench {

// utime and stime of /proc/PID/stat, in clock ticks. For a process (not a
// single thread) the kernel sums them over all its threads, exited ones
// included, so a worker's queue threads are counted.
struct CpuTicks {
    uint64_t user = 0;
    uint64_t system = 0;
    uint64_t total() const { return user + system; }
};

// Parses the text of /proc/PID/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted from its last ')'.
Result<CpuTicks> parse_proc_stat(std::string_view text);
Result<CpuTicks> read_process_cpu(pid_t pid);
// Clock ticks to seconds (sysconf(_SC_CLK_TCK), usually 100 per second).
double ticks_to_seconds(uint64_t ticks);

// From /proc/PID/status: the real uid and gid, no_new_privs and the seccomp
// mode (2: a filter), by which the bench sees that a worker did deprivilege.
struct ProcessCredentials {
    uint32_t uid = 0;
    uint32_t gid = 0;
    bool no_new_privs = false;
    unsigned seccomp = 0;
};
Result<ProcessCredentials> parse_proc_status(std::string_view text);
Result<ProcessCredentials> read_process_credentials(pid_t pid);

// The three load averages of /proc/loadavg's text ("0.52 0.58 0.59").
Result<std::string> parse_loadavg(std::string_view text);
// The host's load averages now, or a note saying why they are unknown.
std::string host_load();

}  // namespace xenvhost::bench
