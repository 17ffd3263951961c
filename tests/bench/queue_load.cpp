#include "queue_load.hpp"

#include <algorithm>
#include <random>

namespace xenvhost::bench {

using namespace xenvhost::frontend;

Result<void> drive_queue(BlkQueue& q, const QueuePlan& plan, std::vector<Completion>& out) {
    const Workload& w = *plan.workload;
    const uint32_t sectors_per_block = w.block / kSectorSize;
    std::mt19937_64 rng(plan.seed);
    uint64_t next_block = plan.first_block;
    auto command = [&]() {
        uint64_t block = w.sequential ? (next_block++ % plan.blocks) : (rng() % plan.blocks);
        BlkCommand c;
        c.type = w.write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
        c.sector = block * sectors_per_block;
        c.data_len = w.block;
        return c;
    };

    std::vector<Clock::time_point> submitted(q.depth());
    auto submit = [&]() -> Result<void> {
        auto slot = q.submit(command());
        if (!slot) return std::unexpected(slot.error());
        submitted[*slot] = Clock::now();
        return {};
    };
    for (unsigned i = 0; i < q.depth(); ++i)
        if (auto r = submit(); !r) return r;
    q.flush();

    for (;;) {
        auto done = q.poll(5000, 1);
        if (!done) return std::unexpected(done.error());
        if (done->empty()) return fail("no completion for 5 s with {} in flight", q.in_flight());
        const Clock::time_point now = Clock::now();
        for (const auto& c : *done) {
            if (c.status != VIRTIO_BLK_S_OK)
                return fail("request in slot {} failed with status {}", c.slot, blk_status_name(c.status));
            if (now < plan.record_from) continue;
            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - submitted[c.slot]).count();
            out.push_back({now, static_cast<uint32_t>(std::clamp<int64_t>(ns, 0, UINT32_MAX))});
        }
        if (now >= plan.end) break;
        for (size_t i = 0; i < done->size(); ++i)
            if (auto r = submit(); !r) return r;
        q.flush();
    }
    // The last requests finish before the session goes away.
    while (q.in_flight()) {
        auto done = q.poll(5000, q.in_flight());
        if (!done) return std::unexpected(done.error());
        if (done->empty()) return fail("requests still in flight after the run");
    }
    return {};
}

}  // namespace xenvhost::bench
