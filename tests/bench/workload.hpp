#pragma once
// One benchmark workload run against one back-end: a session with one
// queue, `depth` requests kept in flight for a fixed time, per-request
// latency from submission to completion.

#include "base/error.hpp"
#include "frontend/blk_session.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace xenvhost::bench {

struct Workload {
    std::string name;      // "randread 4k"
    bool write = false;
    bool sequential = false;
    uint32_t block = 4096;
};

struct RunOptions {
    std::chrono::milliseconds warmup{1000};
    std::chrono::milliseconds duration{10000};
    unsigned depth = 32;
    uint16_t queue_size = 128;
    uint64_t seed = 1;
};

struct Result {
    uint64_t ios = 0;
    double seconds = 0;
    double iops = 0;
    double mib_per_s = 0;
    double mean_us = 0;
    double p50_us = 0;
    double p99_us = 0;
};

// Connects to `socket`, runs `w` and returns the figures.
xenvhost::Result<Result> run_workload(const std::string& socket, const Workload& w,
                                      const RunOptions& opts);

}  // namespace xenvhost::bench
