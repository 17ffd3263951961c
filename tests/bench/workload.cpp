#include "workload.hpp"

#include <algorithm>
#include <numeric>
#include <random>

namespace xenvhost::bench {

using namespace xenvhost::frontend;
using Clock = std::chrono::steady_clock;

xenvhost::Result<Result> run_workload(const std::string& socket, const Workload& w,
                                      const RunOptions& opts) {
    SessionOptions so;
    so.num_queues = 1;
    so.queue_size = opts.queue_size;
    so.blk.depth = opts.depth;
    so.blk.max_data = w.block;
    so.memory_size = 64ull << 20;
    auto session = BlkSession::connect(socket, so);
    if (!session) return std::unexpected(session.error());
    BlkSession& s = **session;
    if (auto r = s.start(); !r) return std::unexpected(r.error());
    BlkQueue& q = s.blk(0);

    const uint64_t blocks = s.capacity_sectors() * kSectorSize / w.block;
    if (blocks == 0) return fail("the disk is smaller than one {}-byte block", w.block);
    const uint32_t sectors_per_block = w.block / kSectorSize;
    // Write buffers hold random bytes once; requests then send them as they are.
    if (w.write) {
        std::mt19937_64 fill(opts.seed);
        std::vector<uint8_t> junk(w.block);
        for (auto& b : junk) b = static_cast<uint8_t>(fill());
        for (unsigned i = 0; i < q.depth(); ++i)
            if (auto r = s.memory().write(q.slot_data_gpa(i), junk); !r)
                return std::unexpected(r.error());
    }

    std::mt19937_64 rng(opts.seed);
    uint64_t next_block = 0;
    auto command = [&]() {
        uint64_t block = w.sequential ? (next_block++ % blocks) : (rng() % blocks);
        BlkCommand c;
        c.type = w.write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
        c.sector = block * sectors_per_block;
        c.data_len = w.block;
        return c;
    };

    std::vector<Clock::time_point> submitted(q.depth());
    std::vector<uint32_t> latencies_ns;
    latencies_ns.reserve(4 << 20);
    uint64_t ios = 0;

    auto submit = [&]() -> xenvhost::Result<void> {
        auto slot = q.submit(command());
        if (!slot) return std::unexpected(slot.error());
        submitted[*slot] = Clock::now();
        return {};
    };
    for (unsigned i = 0; i < q.depth(); ++i)
        if (auto r = submit(); !r) return std::unexpected(r.error());
    q.flush();

    const Clock::time_point start = Clock::now();
    const Clock::time_point measure_from = start + opts.warmup;
    const Clock::time_point end = measure_from + opts.duration;
    Clock::time_point measured_start{}, last{};
    bool measuring = false;
    for (;;) {
        auto done = q.poll(5000, 1);
        if (!done) return std::unexpected(done.error());
        if (done->empty()) return fail("no completion for 5 s with {} in flight", q.in_flight());
        Clock::time_point now = Clock::now();
        if (!measuring && now >= measure_from) {
            measuring = true;
            measured_start = now;
        }
        for (const auto& c : *done) {
            if (c.status != VIRTIO_BLK_S_OK)
                return fail("request on sector {} failed with status {}", c.tag, c.status);
            if (measuring) {
                ++ios;
                latencies_ns.push_back(static_cast<uint32_t>(
                    std::min<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          now - submitted[c.slot])
                                          .count(),
                                      UINT32_MAX)));
            }
        }
        last = now;
        if (now >= end) break;
        for (size_t i = 0; i < done->size(); ++i)
            if (auto r = submit(); !r) return std::unexpected(r.error());
        q.flush();
    }
    // Let the last requests finish before the session goes away.
    while (q.in_flight()) {
        auto done = q.poll(5000, q.in_flight());
        if (!done) return std::unexpected(done.error());
        if (done->empty()) return fail("requests still in flight after the run");
    }

    Result r;
    r.ios = ios;
    r.seconds = std::chrono::duration<double>(last - measured_start).count();
    if (ios == 0 || r.seconds <= 0) return fail("nothing completed in the measured window");
    r.iops = static_cast<double>(ios) / r.seconds;
    r.mib_per_s = r.iops * w.block / (1024.0 * 1024.0);
    double sum = std::accumulate(latencies_ns.begin(), latencies_ns.end(), 0.0);
    r.mean_us = sum / static_cast<double>(latencies_ns.size()) / 1000.0;
    auto pct = [&](double p) {
        size_t k = std::min(latencies_ns.size() - 1,
                            static_cast<size_t>(p * static_cast<double>(latencies_ns.size())));
        std::nth_element(latencies_ns.begin(), latencies_ns.begin() + static_cast<ptrdiff_t>(k),
                         latencies_ns.end());
        return latencies_ns[k] / 1000.0;
    };
    r.p50_us = pct(0.50);
    r.p99_us = pct(0.99);
    return r;
}

}  // namespace xenvhost::bench
