#pragma once
// The worker's own counters, read over its control socket (`status`), and
// differences between two readings.

#include "base/error.hpp"
#include "control/device_status.hpp"
#include "frontend/clock.hpp"

#include <optional>
#include <string>

namespace xenvhost::grantfe {

struct Counters {
    uint64_t requests = 0;
    uint64_t map_calls = 0;
    uint64_t unmap_calls = 0;
    uint64_t pages_mapped = 0;
    uint64_t map_failures = 0;
    bool connected = false;
    std::string mapping;
    std::string grant_access;  // the worker's --grant-access
    uint64_t copy_calls = 0;
    uint64_t copy_segments = 0;
    uint64_t copy_failures = 0;

    Counters operator-(const Counters& o) const;
    std::string describe() const;
};

class WorkerCounters {
public:
    // No path: every read fails with a clear reason.
    explicit WorkerCounters(std::optional<std::string> control_socket) : path_(std::move(control_socket)) {}
    bool available() const { return path_.has_value(); }
    // The worker's first (only) device.
    Result<Counters> read() const;
    // Reads until `done` holds or `timeout_ms` passes; returns the last reading.
    template <typename Pred>
    Result<Counters> wait_for(Pred done, int timeout_ms) const;

private:
    std::optional<std::string> path_;
};

// Sleeps between readings; defined out of line to keep <thread> out of here.
void pause_ms(int ms);

template <typename Pred>
Result<Counters> WorkerCounters::wait_for(Pred done, int timeout_ms) const {
    const int64_t deadline = frontend::now_ms() + timeout_ms;
    for (;;) {
        auto c = read();
        if (!c || done(*c) || frontend::now_ms() >= deadline) return c;
        pause_ms(20);
    }
}

}  // namespace xenvhost::grantfe
