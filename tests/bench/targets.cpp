#include "targets.hpp"

#include <fmt/core.h>

#include <cmath>

namespace xenvhost::bench {

namespace {

std::optional<double> ratio(double a, double b) {
    if (std::isnan(a) || std::isnan(b) || b <= 0) return std::nullopt;
    return a / b;
}

bool is_share(const Target& t) { return t.measure == Measure::kIopsShareOfNull; }
bool higher_is_better(const Target& t) {
    return t.measure == Measure::kIopsVsQsd || t.measure == Measure::kIopsShareOfNull ||
           t.measure == Measure::kSandboxedIopsVsWorker;
}

}  // namespace

std::optional<double> evaluate(const Target& t, const Trio& f) {
    if (!f.worker) return std::nullopt;
    switch (t.measure) {
    case Measure::kIopsVsQsd:
        return f.qsd ? ratio(f.worker->iops, f.qsd->iops) : std::nullopt;
    case Measure::kIopsShareOfNull:
        return f.null ? ratio(f.worker->iops, f.null->iops) : std::nullopt;
    case Measure::kP50VsQsd:
        return f.qsd ? ratio(f.worker->p50_us, f.qsd->p50_us) : std::nullopt;
    case Measure::kCpuVsQsd:
        return f.qsd ? ratio(f.worker->cpu_us_per_io, f.qsd->cpu_us_per_io) : std::nullopt;
    case Measure::kSandboxedIopsVsWorker:
        return f.sandboxed ? ratio(f.sandboxed->iops, f.worker->iops) : std::nullopt;
    }
    return std::nullopt;
}

bool met(const Target& t, double value) { return higher_is_better(t) ? value >= t.limit : value <= t.limit; }

std::string describe(const Target& t) {
    switch (t.measure) {
    case Measure::kIopsVsQsd: return fmt::format("IOPS >= {:.1f}x qsd", t.limit);
    case Measure::kIopsShareOfNull: return fmt::format("IOPS >= {:.0f}% of null", t.limit * 100);
    case Measure::kP50VsQsd: return fmt::format("p50 <= {:.1f}x qsd", t.limit);
    case Measure::kCpuVsQsd: return fmt::format("CPU/request <= {:.1f}x qsd", t.limit);
    case Measure::kSandboxedIopsVsWorker: return fmt::format("sandboxed IOPS >= {:.2f}x worker", t.limit);
    }
    return "?";
}

std::string show(const Target& t, double value) {
    return is_share(t) ? fmt::format("{:.0f}%", value * 100) : fmt::format("{:.2f}x", value);
}

std::string verdict_over_workloads(const Target& t, const std::vector<NamedValue>& values) {
    const NamedValue* worst = nullptr;
    size_t unmeasured = 0;
    for (const auto& v : values) {
        if (!v.value) {
            ++unmeasured;
            continue;
        }
        if (!worst || (higher_is_better(t) ? *v.value < *worst->value : *v.value > *worst->value)) worst = &v;
    }
    if (!worst) return "not measured (a back-end did not run)";
    const char* verdict = met(t, *worst->value) ? "met" : "not met";
    const std::string worst_text = fmt::format("worst {} at {}", show(t, *worst->value), worst->workload);
    // A workload that went unmeasured is not counted as met: say so.
    if (unmeasured)
        return fmt::format("{} at the {} measured, {} not measured ({})", verdict, values.size() - unmeasured,
                           unmeasured, worst_text);
    return fmt::format("{} ({})", verdict, worst_text);
}

}  // namespace xenvhost::bench
