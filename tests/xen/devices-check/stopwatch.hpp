#pragma once
// Wall-clock timing for the measurements the checks print.

#include <chrono>

namespace xenvhost::xencheck {

class Stopwatch {
public:
    double elapsed_us() const {
        return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start_).count();
    }

private:
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace xenvhost::xencheck
