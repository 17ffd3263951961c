#pragma once
// What one run of one workload against one back-end measured.

#include <cstdint>
#include <limits>

namespace xenvhost::bench {

struct Figures {
    uint64_t ios = 0;      // requests completed in the measured window
    double seconds = 0;    // the window
    double iops = 0;
    double mib_per_s = 0;
    double mean_us = 0;
    double p50_us = 0;
    double p99_us = 0;
    // The back-end process's user+system CPU time per completed request;
    // NaN when not measured.
    double cpu_us_per_io = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace xenvhost::bench
