#pragma once
// Milliseconds on the monotonic clock, for the deadlines of the front-end's
// waits (a wall-clock jump must not cut a wait short or stretch it).

#include <time.h>

#include <cstdint>

namespace xenvhost::frontend {

inline int64_t now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace xenvhost::frontend
