#pragma once
// What the leak tests compare for the back-end process, read from /proc:
// open fds (/proc/PID/fd), mappings of files, memfds and devices (/proc/PID/maps
// lines with a path) and resident
// memory (VmRSS in /proc/PID/status), and how many cycles a leak test runs.

#include "base/error.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace xenvhost::component {

struct ProcessFigures {
    int fds = 0;
    int maps = 0;
    uint64_t rss_kib = 0;
};

Result<ProcessFigures> read_figures(pid_t pid);

// A process releases a closed connection's fds and mappings shortly after
// the close, on its own thread: polls (every 20 ms, for at most
// `timeout_ms`) until fds and maps are no higher than `target`'s, and
// returns the last reading, leaked or not.
Result<ProcessFigures> settled_figures(pid_t pid, const ProcessFigures& target,
                                       int timeout_ms = 3000);
// Without a target: until two readings 100 ms apart agree on fds and maps.
Result<ProcessFigures> settled_figures(pid_t pid, int timeout_ms = 3000);

// "fds 12->12 maps 80->80 rss 4.1->4.2 MiB", for the figures line.
std::string describe_change(const ProcessFigures& before, const ProcessFigures& after);

// Cycles a leak test runs: XENVHOST_LEAK_CYCLES if set (a positive
// number; the tsan level lowers it for its slower worker), else `normal`.
Result<unsigned> leak_cycles(unsigned normal);

// Whether to hold RSS to a bound: not when a sanitizer's allocator keeps
// freed memory (ASan's quarantine, TSan's), where RSS grows by design and
// LeakSanitizer is the heap check instead. XENVHOST_LEAK_CHECK_RSS=0 or 1
// overrides (a sanitized worker driven by a plain test binary).
bool leak_check_rss();

}  // namespace xenvhost::component
