#pragma once
// Order statistics for the bench: latency percentiles of one run, medians
// of a figure over rounds.

#include "base/error.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace xenvhost::bench {

// The nearest-rank percentile: the smallest value with at least `p` (0..1]
// of all values at or below it. Reorders `values`; fails when empty or p is
// outside (0, 1].
Result<uint32_t> percentile(std::span<uint32_t> values, double p);

// The median; the mean of the two middle values for an even count. Fails
// when empty.
Result<double> median(std::vector<double> values);

}  // namespace xenvhost::bench
