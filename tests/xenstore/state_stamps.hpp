#pragma once
// Time-stamps, on a thread of its own, the first moment each of a set of
// xenstore nodes reads a given value (a device's backend state reaching 2),
// while the test thread writes the device trees: the writer's burst and the
// measurement do not wait for each other.

#include "tests/xenstore/harness.hpp"

#include <atomic>
#include <thread>
#include <unordered_map>

namespace xenvhost::xstest {

class StateStamps {
public:
    // Watches `root` once, not each node: xenstored matches every write
    // against every watch, so a thousand watches would slow it for the
    // daemon under test as well.
    static Result<std::unique_ptr<StateStamps>> start(const std::string& root, const std::vector<std::string>& nodes,
                                                      const std::string& value);
    ~StateStamps();

    // Waits until every node has read the value, or the timeout; then stops
    // watching either way (the stamps are stable afterwards).
    bool wait(std::chrono::milliseconds timeout);
    size_t remaining() const { return remaining_.load(); }
    // When node i first read the value; nullopt if it never did. After wait().
    std::optional<Clock::time_point> reached(size_t i) const;

private:
    StateStamps(xen::Xenstore xs, std::string value) : xs_(std::move(xs)), value_(std::move(value)) {}
    void run(int fd);
    void stop();

    xen::Xenstore xs_;  // used by the thread only, until it is joined
    std::string value_;
    std::unordered_map<std::string, size_t> index_;
    std::vector<std::optional<Clock::time_point>> stamps_;
    std::atomic<size_t> remaining_ = 0;
    std::atomic<bool> stop_ = false;
    std::thread thread_;
};

// Percentiles of a set of durations in ms (nearest rank).
struct Spread {
    double p50 = 0, p99 = 0, max = 0;
};
Spread spread_of(std::vector<double> ms);

}  // namespace xenvhost::xstest
