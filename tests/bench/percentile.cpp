#include "percentile.hpp"

#include <algorithm>
#include <cmath>

namespace xenvhost::bench {

Result<uint32_t> percentile(std::span<uint32_t> values, double p) {
    if (values.empty()) return fail("percentile of no values");
    if (!(p > 0 && p <= 1)) return fail("percentile {} is outside (0, 1]", p);
    const double n = static_cast<double>(values.size());
    // Rank ceil(p * n), 1-based; the clamp guards against rounding at p = 1.
    const size_t rank = std::clamp<size_t>(static_cast<size_t>(std::ceil(p * n)), 1, values.size());
    auto k = values.begin() + static_cast<ptrdiff_t>(rank - 1);
    std::nth_element(values.begin(), k, values.end());
    return *k;
}

Result<double> median(std::vector<double> values) {
    if (values.empty()) return fail("median of no values");
    const size_t mid = values.size() / 2;
    std::nth_element(values.begin(), values.begin() + static_cast<ptrdiff_t>(mid), values.end());
    const double upper = values[mid];
    if (values.size() % 2) return upper;
    const double lower = *std::max_element(values.begin(), values.begin() + static_cast<ptrdiff_t>(mid));
    return (lower + upper) / 2;
}

}  // namespace xenvhost::bench
