#include "report.hpp"

#include "percentile.hpp"

#include <fmt/core.h>

#include <cmath>

namespace xenvhost::bench {

namespace {

constexpr const char* kBackends[] = {"worker", "uring", "sandboxed", "null", "qsd"};

const char* display_name(const std::string& backend) {
    if (backend == "worker") return "xenvhost-worker";
    if (backend == "uring") return "worker io-path=uring";
    if (backend == "sandboxed") return "worker sandboxed";
    if (backend == "null") return "worker --null-io";
    return "qemu-storage-daemon";
}

std::string number(double v, int decimals) {
    return std::isnan(v) ? "-" : fmt::format("{:.{}f}", v, decimals);
}

std::string times(double a, double b) {
    return (std::isnan(a) || std::isnan(b) || b <= 0) ? "-" : fmt::format("{:.2f}x", a / b);
}

void line(std::ostream& out, const std::string& workload, const std::string& who, const std::string& iops,
          const std::string& mib, const std::string& mean, const std::string& p50, const std::string& p99,
          const std::string& cpu) {
    out << fmt::format("{:<20} {:<20} {:>9} {:>8} {:>9} {:>9} {:>9} {:>11}\n", workload, who, iops, mib, mean,
                       p50, p99, cpu);
}

void print_case(std::ostream& out, const Case& c, const std::map<RunKey, Figures>& results) {
    Trio trio;
    std::string label = c.workload.name;
    for (const char* b : kBackends) {
        auto it = results.find({c.workload.name, b});
        if (it == results.end()) continue;
        const Figures& f = it->second;
        const std::string name = b;
        (name == "worker"      ? trio.worker
         : name == "uring"     ? trio.uring
         : name == "sandboxed" ? trio.sandboxed
         : name == "null"      ? trio.null
                               : trio.qsd) = &f;
        line(out, label, display_name(b), number(f.iops, 0), number(f.mib_per_s, 1), number(f.mean_us, 1),
             number(f.p50_us, 1), number(f.p99_us, 1), number(f.cpu_us_per_io, 2));
        label.clear();
    }
    if (label == c.workload.name) return;  // nothing ran
    if (trio.worker && trio.qsd) {
        const Figures &w = *trio.worker, &q = *trio.qsd;
        line(out, "", "ratio worker/qsd", times(w.iops, q.iops), times(w.mib_per_s, q.mib_per_s),
             times(w.mean_us, q.mean_us), times(w.p50_us, q.p50_us), times(w.p99_us, q.p99_us),
             times(w.cpu_us_per_io, q.cpu_us_per_io));
    }
    if (trio.worker && trio.null && trio.null->iops > 0)
        line(out, "", "ratio worker/null", fmt::format("{:.0f}%", 100 * trio.worker->iops / trio.null->iops),
             "", "", "", "", times(trio.worker->cpu_us_per_io, trio.null->cpu_us_per_io));
    // What the worker's own I/O path gains over io_uring for every transfer.
    if (trio.worker && trio.uring) {
        const Figures &w = *trio.worker, &u = *trio.uring;
        line(out, "", "worker/io_uring", times(w.iops, u.iops), times(w.mib_per_s, u.mib_per_s),
             times(w.mean_us, u.mean_us), times(w.p50_us, u.p50_us), times(w.p99_us, u.p99_us),
             times(w.cpu_us_per_io, u.cpu_us_per_io));
    }
    // What the sandbox costs: throughput kept and CPU per request spent.
    if (trio.worker && trio.sandboxed) {
        const Figures &s = *trio.sandboxed, &w = *trio.worker;
        line(out, "", "sandboxed/worker", times(s.iops, w.iops), times(s.mib_per_s, w.mib_per_s),
             times(s.mean_us, w.mean_us), times(s.p50_us, w.p50_us), times(s.p99_us, w.p99_us),
             times(s.cpu_us_per_io, w.cpu_us_per_io));
    }
    for (const Target& t : c.targets) {
        auto v = evaluate(t, trio);
        std::string verdict = v ? fmt::format("{} ({})", met(t, *v) ? "met" : "not met", show(t, *v))
                                : "not measured (a back-end did not run)";
        out << fmt::format("{:<20} target {:<32} {}\n", "", describe(t) + ":", verdict);
    }
}

}  // namespace

Figures median_figures(const std::vector<Figures>& rounds) {
    auto med = [&](auto field) {
        std::vector<double> v;
        for (const auto& f : rounds) {
            const auto x = static_cast<double>(f.*field);
            if (std::isnan(x)) return x;  // unmeasured in a round: unmeasured
            v.push_back(x);
        }
        auto m = median(v);
        return m ? *m : std::nan("");
    };
    Figures m;
    m.ios = static_cast<uint64_t>(med(&Figures::ios));
    m.seconds = med(&Figures::seconds);
    m.iops = med(&Figures::iops);
    m.mib_per_s = med(&Figures::mib_per_s);
    m.mean_us = med(&Figures::mean_us);
    m.p50_us = med(&Figures::p50_us);
    m.p99_us = med(&Figures::p99_us);
    m.cpu_us_per_io = med(&Figures::cpu_us_per_io);
    return m;
}

void print_table(std::ostream& out, const std::vector<Case>& cases, const std::map<RunKey, Figures>& results) {
    line(out, "workload", "back-end", "IOPS", "MiB/s", "mean us", "p50 us", "p99 us", "CPU us/req");
    out << std::string(101, '-') << "\n";
    for (size_t i = 0; i < cases.size(); ++i) {
        if (i) out << "\n";
        print_case(out, cases[i], results);
    }
    std::vector<NamedValue> sandbox;
    for (const Case& c : cases) {
        auto at = [&](const char* b) {
            auto it = results.find({c.workload.name, b});
            return it == results.end() ? nullptr : &it->second;
        };
        sandbox.push_back(
            {c.workload.name, evaluate(kSandboxCost, Trio{at("worker"), nullptr, nullptr, at("sandboxed"), nullptr})});
    }
    out << fmt::format("\ntarget: sandbox costs no measurable throughput: "
                       "sandboxed/worker IOPS >= {:.2f} at every workload: {}\n",
                       kSandboxCost.limit, verdict_over_workloads(kSandboxCost, sandbox));
    out << "\n(IOPS, MiB/s: higher is better; latencies and CPU: lower is better. CPU us/req: the back-end\n"
           " process's user+system time over the measured window, all its threads, per completed request.)\n";
}

}  // namespace xenvhost::bench
