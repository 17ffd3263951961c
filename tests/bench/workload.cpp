#include "workload.hpp"

#include "frontend/blk_session.hpp"
#include "percentile.hpp"
#include "proc.hpp"
#include "queue_load.hpp"

#include <numeric>
#include <optional>
#include <random>
#include <thread>

namespace xenvhost::bench {

using namespace xenvhost::frontend;

namespace {

Result<std::unique_ptr<BlkSession>> open_session(const std::string& socket, const Workload& w,
                                                 const RunOptions& opts) {
    if (w.queues == 0 || w.depth < w.queues || w.depth % w.queues)
        return fail("{}: a depth of {} does not split evenly over {} queue(s)", w.name, w.depth, w.queues);
    SessionOptions so;
    so.num_queues = static_cast<uint16_t>(w.queues);
    so.queue_size = opts.queue_size;
    so.blk.depth = w.depth / w.queues;
    so.blk.max_data = w.block;
    so.memory_size = 64ull << 20;
    auto session = BlkSession::connect(socket, so);
    if (!session) return std::unexpected(session.error());
    if (auto r = (*session)->start(); !r) return std::unexpected(r.error());
    return session;
}

// Write buffers hold random bytes once; requests then send them as they are.
Result<void> fill_write_buffers(BlkSession& s, const Workload& w, uint64_t seed) {
    std::mt19937_64 fill(seed);
    std::vector<uint8_t> junk(w.block);
    for (auto& b : junk) b = static_cast<uint8_t>(fill());
    for (size_t qi = 0; qi < s.num_queues(); ++qi)
        for (unsigned i = 0; i < s.blk(qi).depth(); ++i)
            if (auto r = s.memory().write(s.blk(qi).slot_data_gpa(i), junk); !r) return r;
    return {};
}

// A point of the measured window: when, and the back-end's CPU ticks then.
struct Mark {
    Clock::time_point at;
    std::optional<CpuTicks> cpu;
};

Result<Mark> mark(pid_t pid) {
    Mark m;
    m.at = Clock::now();
    if (pid > 0) {
        auto t = read_process_cpu(pid);
        if (!t) return std::unexpected(t.error());
        m.cpu = *t;
    }
    return m;
}

Result<Figures> figures(const Workload& w, const std::vector<std::vector<Completion>>& per_queue,
                        const Mark& from, const Mark& to) {
    std::vector<uint32_t> latencies;
    for (const auto& list : per_queue)
        for (const auto& c : list)
            if (c.done >= from.at && c.done < to.at) latencies.push_back(c.latency_ns);
    Figures f;
    f.ios = latencies.size();
    f.seconds = std::chrono::duration<double>(to.at - from.at).count();
    if (f.ios == 0 || f.seconds <= 0) return fail("nothing completed in the measured window");
    f.iops = static_cast<double>(f.ios) / f.seconds;
    f.mib_per_s = f.iops * w.block / (1024.0 * 1024.0);
    const double sum = std::accumulate(latencies.begin(), latencies.end(), 0.0);
    f.mean_us = sum / static_cast<double>(f.ios) / 1000.0;
    auto p50 = percentile(latencies, 0.50);
    auto p99 = percentile(latencies, 0.99);
    if (!p50 || !p99) return fail("no latencies");
    f.p50_us = *p50 / 1000.0;
    f.p99_us = *p99 / 1000.0;
    if (from.cpu && to.cpu)
        f.cpu_us_per_io = ticks_to_seconds(to.cpu->total() - from.cpu->total()) * 1e6 /
                          static_cast<double>(f.ios);
    return f;
}

}  // namespace

Result<Figures> run_workload(const std::string& socket, const Workload& w, const RunOptions& opts) {
    auto session = open_session(socket, w, opts);
    if (!session) return std::unexpected(session.error());
    BlkSession& s = **session;
    const uint64_t blocks = s.capacity_sectors() * kSectorSize / w.block;
    if (blocks == 0) return fail("the disk is smaller than one {}-byte block", w.block);
    if (w.write)
        if (auto r = fill_write_buffers(s, w, opts.seed); !r) return std::unexpected(r.error());

    const Clock::time_point start = Clock::now();
    const Clock::time_point measure_from = start + opts.warmup;
    const Clock::time_point end = measure_from + opts.duration;

    // One thread per queue, as a guest's vCPUs would drive them; this thread
    // only marks the window. A queue thread is never cancelled: each stops
    // by itself at `end` or after 5 s without a completion.
    const size_t nq = s.num_queues();
    std::vector<std::vector<Completion>> completions(nq);
    std::vector<Result<void>> outcome(nq);
    std::vector<std::jthread> threads;
    for (size_t qi = 0; qi < nq; ++qi) {
        completions[qi].reserve((4 << 20) / nq);
        QueuePlan plan{&w, blocks, qi * blocks / nq, opts.seed + qi, measure_from, end};
        threads.emplace_back([&, qi, plan] { outcome[qi] = drive_queue(s.blk(qi), plan, completions[qi]); });
    }
    // The window opens when this thread wakes, at or after `measure_from`,
    // so every completion inside it has been kept.
    std::this_thread::sleep_until(measure_from);
    auto from = mark(opts.backend_pid);
    std::this_thread::sleep_until(end);
    auto to = mark(opts.backend_pid);
    threads.clear();  // joins

    for (size_t qi = 0; qi < nq; ++qi)
        if (!outcome[qi]) return fail("queue {}: {}", qi, outcome[qi].error().message);
    if (!from) return std::unexpected(from.error());
    if (!to) return std::unexpected(to.error());
    return figures(w, completions, *from, *to);
}

}  // namespace xenvhost::bench
