#pragma once
// xen-map-bench: the grant path's cost with the worker's batched mapping
// (one map call per request and access direction) against per-access
// mapping (map + unmap around every buffer access, the way rust-vmm's
// vm-memory maps no-advance grant regions).

#include "base/error.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace xenvhost::xenbench {

// One request shape: what the driver sends, how the worker batches it, and
// what a per-access back-end would map.
struct Shape {
    std::string name;
    bool write = false;
    uint32_t bytes = 4096;
    uint32_t segment = 0;                // data descriptor size (0: one descriptor)
    std::vector<uint32_t> batches;       // pages per batched map call (the worker)
    std::vector<uint32_t> accesses;      // pages per access (per-access mapping)
};
std::vector<Shape> shapes();

struct Options {
    std::string build_bin;
    double seconds = 2.0;   // per shape
    unsigned depth = 16;    // requests in flight
    bool strace = true;     // count the worker's system calls with strace -c
    unsigned strace_requests = 2000;
};

// End to end through the real worker and the double (grant mode).
struct EndToEnd {
    unsigned depth = 0;  // requests kept in flight (the ring bounds it for long chains)
    double requests_per_second = 0;
    double map_calls = 0, unmap_calls = 0, pages = 0;  // per request, the double's counters
    double double_syscalls = 0;                        // mmap/munmap the double made, per request
    double worker_map_calls = 0;                       // per request, the worker's own counter
    double syscalls = -1, mapping_syscalls = -1;       // per request under strace (-1: not measured)
};
Result<EndToEnd> run_end_to_end(const Options& opts, const Shape& shape);

// Nanoseconds for one map + unmap of `pages` grant refs through the double.
Result<double> map_unmap_ns(const std::string& double_lib, uint32_t pages);

}  // namespace xenvhost::xenbench
