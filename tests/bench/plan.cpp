#include "plan.hpp"

#include <fmt/core.h>

namespace xenvhost::bench {

std::vector<Case> bench_cases(unsigned depth) {
    const Target iops2x{Measure::kIopsVsQsd, 2.0}, null70{Measure::kIopsShareOfNull, 0.70},
        cpu_half{Measure::kCpuVsQsd, 0.5}, p50{Measure::kP50VsQsd, 0.7}, seq{Measure::kIopsVsQsd, 1.0},
        sandbox = kSandboxCost;
    auto qd = [&](const char* what, unsigned d) { return fmt::format("{} qd{}", what, d); };
    return {
        {{qd("randread 4k", depth), false, false, 4096, depth, 1}, {iops2x, null70, cpu_half, sandbox}},
        {{qd("randwrite 4k", depth), true, false, 4096, depth, 1}, {iops2x, null70, cpu_half, sandbox}},
        {{qd("seqread 64k", depth), false, true, 65536, depth, 1}, {seq, sandbox}},
        {{qd("randread 4k", 1), false, false, 4096, 1, 1}, {p50, cpu_half, sandbox}},
        {{qd("randwrite 4k", 1), true, false, 4096, 1, 1}, {p50, cpu_half, sandbox}},
        // The same depth over two queues, half on each.
        {{qd("randread 4k 2q", depth), false, false, 4096, depth, 2}, {iops2x, null70, cpu_half, sandbox}},
    };
}

}  // namespace xenvhost::bench
