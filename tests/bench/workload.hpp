#pragma once
// One benchmark workload run against one back-end: a session with one queue
// or more, each queue's share of the depth kept in flight for a fixed time,
// per-request latency from submission to completion, and the back-end's CPU
// time over exactly the measured window.

#include "base/error.hpp"
#include "figures.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace xenvhost::bench {

struct Workload {
    std::string name;      // "randread 4k qd32"
    bool write = false;
    bool sequential = false;
    uint32_t block = 4096;
    unsigned depth = 32;   // requests in flight, over all queues
    unsigned queues = 1;   // the depth is split evenly over them
};

struct RunOptions {
    std::chrono::milliseconds warmup{1000};
    std::chrono::milliseconds duration{10000};
    uint16_t queue_size = 128;
    uint64_t seed = 1;
    pid_t backend_pid = 0;  // whose CPU time is measured; 0: none
};

// Connects to `socket`, runs `w` and returns the figures.
xenvhost::Result<Figures> run_workload(const std::string& socket, const Workload& w,
                                       const RunOptions& opts);

}  // namespace xenvhost::bench
