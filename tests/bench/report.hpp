#pragma once
// The one table a run prints: per workload each back-end's medians, the
// worker's ratios to qemu-storage-daemon, its share of the null back-end and
// the sandboxed worker's ratios to it, and each target as met or not met.

#include "figures.hpp"
#include "plan.hpp"

#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace xenvhost::bench {

// (workload name, back-end: "worker", "sandboxed", "null" or "qsd")
using RunKey = std::pair<std::string, std::string>;

// Each figure's median over the rounds (every list non-empty).
Figures median_figures(const std::vector<Figures>& rounds);

void print_table(std::ostream& out, const std::vector<Case>& cases, const std::map<RunKey, Figures>& results);

}  // namespace xenvhost::bench
