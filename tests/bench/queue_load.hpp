#pragma once
// The load on one queue: keeps the queue's slots busy with the workload's
// requests until a deadline, then lets the last ones finish. Runs on its own
// thread, one per queue, touching nothing but its queue.

#include "base/error.hpp"
#include "frontend/blk_queue.hpp"
#include "workload.hpp"

#include <chrono>
#include <cstdint>
#include <vector>

namespace xenvhost::bench {

using Clock = std::chrono::steady_clock;

struct Completion {
    Clock::time_point done;
    uint32_t latency_ns = 0;
};

struct QueuePlan {
    const Workload* workload = nullptr;
    uint64_t blocks = 0;       // of workload->block bytes on the disk
    uint64_t first_block = 0;  // where a sequential workload starts
    uint64_t seed = 1;
    Clock::time_point record_from;  // completions before this are not kept (warm-up)
    Clock::time_point end;          // no new request from here on
};

// Drives `q` and appends every completion from `record_from` on to `out`; fails on a request that
// did not complete OK or a queue silent for 5 s.
Result<void> drive_queue(frontend::BlkQueue& q, const QueuePlan& plan, std::vector<Completion>& out);

}  // namespace xenvhost::bench
