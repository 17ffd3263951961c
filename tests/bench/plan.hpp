#pragma once
// What the bench runs: each workload with the targets it is judged by.

#include "targets.hpp"
#include "workload.hpp"

#include <vector>

namespace xenvhost::bench {

struct Case {
    Workload workload;
    std::vector<Target> targets;
};

// Issue #15: the worker's sandbox must not cost measurable throughput, at
// any workload (report.cpp also judges it over all of them at once).
inline constexpr Target kSandboxCost{Measure::kSandboxedIopsVsWorker, 0.95};

// The workloads of one run; `depth` is the deep ones' queue depth (32).
std::vector<Case> bench_cases(unsigned depth);

}  // namespace xenvhost::bench
