#pragma once
// The performance targets: what the worker's figures should be
// beside qemu-storage-daemon's and the null back-end's, and what its sandbox
// may cost. The bench prints them as met or not met; nothing fails on them.

#include "figures.hpp"

#include <optional>
#include <string>
#include <vector>

namespace xenvhost::bench {

enum class Measure {
    kIopsVsQsd,        // worker IOPS / qsd IOPS, at least `limit`
    kIopsShareOfNull,  // worker IOPS / null IOPS, at least `limit`
    kP50VsQsd,         // worker p50 / qsd p50, at most `limit`
    kCpuVsQsd,         // worker CPU per request / qsd's, at most `limit`
    kSandboxedIopsVsWorker,  // sandboxed worker IOPS / worker IOPS, at least `limit`
};

struct Target {
    Measure measure;
    double limit;
};

// The figures of one workload, each absent when that back-end did not run.
struct Trio {
    const Figures* worker = nullptr;
    const Figures* null = nullptr;
    const Figures* qsd = nullptr;
    const Figures* sandboxed = nullptr;
    const Figures* uring = nullptr;  // the worker with --io-path=uring
};

// The target's ratio; none when a back-end it needs is missing or a figure
// is zero or unmeasured.
std::optional<double> evaluate(const Target& t, const Trio& f);
bool met(const Target& t, double value);
// "IOPS >= 2.0x qsd", "IOPS >= 70% of null", ...
std::string describe(const Target& t);
// The value as the target states it: "2.31x" or "85%".
std::string show(const Target& t, double value);

// One target judged over every workload at once, `values` being its ratio
// at each (none where unmeasured): met when every workload's is; "not
// measured" when none was. The verdict names the worst workload.
struct NamedValue {
    std::string workload;
    std::optional<double> value;
};
std::string verdict_over_workloads(const Target& t, const std::vector<NamedValue>& values);

}  // namespace xenvhost::bench
