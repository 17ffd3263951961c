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

// The workloads of one run; `depth` is the deep ones' queue depth (32).
std::vector<Case> bench_cases(unsigned depth);

}  // namespace xenvhost::bench
