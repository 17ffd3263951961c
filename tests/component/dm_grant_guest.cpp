#include "dm_grant_guest.hpp"

#include "frontend/clock.hpp"
#include "frontend/xen_guest_memory.hpp"

#include <unistd.h>

namespace xenvhost::component {

using namespace vstatus;

Result<void> GrantBlkGuest::bring_up(const BringUp& o) {
    t_.set_status(0);
    if ((last_status_ = t_.status()) != 0) return fail("status {:#x} after reset", last_status_);
    t_.set_status(kAcknowledge);
    t_.set_status(kAcknowledge | kDriver);
    const uint64_t offered = t_.device_features();
    if (!(offered & kVersion1)) return fail("device features {:#x} without VERSION_1", offered);
    features_ = offered & o.accept;
    t_.set_driver_features(features_);
    t_.set_status(kAcknowledge | kDriver | kFeaturesOk);
    if (!((last_status_ = t_.status()) & kFeaturesOk))
        return fail("FEATURES_OK not kept (status {:#x}) for features {:#x}", last_status_, features_);
    t_.select_queue(0);
    const uint32_t max = t_.queue_max();
    if (max == 0) return fail("queue 0 does not exist");
    const auto size = static_cast<uint16_t>(std::min<uint32_t>(o.queue_size, max));
    t_.set_queue_size(size);
    if (t_.queue_size() != size) return fail("queue size {} not kept (reads {})", size, t_.queue_size());
    if (o.rings_at) {
        const uint64_t at = *o.rings_at;
        t_.set_queue_rings(at, at + 16ull * size, (at + 16ull * size + 6 + 2ull * size + 3) & ~uint64_t{3});
    } else {
        if (auto r = setup_ring(size, features_ & kEventIdx); !r) return r;
        t_.set_queue_rings(grant_gpa(ring_->desc_gpa()), grant_gpa(ring_->avail_gpa()), grant_gpa(ring_->used_gpa()));
    }
    t_.enable_queue();
    t_.set_status(kAcknowledge | kDriver | kFeaturesOk | kDriverOk);
    last_status_ = t_.status();
    if (last_status_ != (kAcknowledge | kDriver | kFeaturesOk | kDriverOk))
        return fail("status {:#x} after DRIVER_OK", last_status_);
    return {};
}

// One ring and slot set per shape, as BlkGuest keeps them: after a reset the
// driver starts its ring over at index 0 on the same (still granted) pages.
Result<void> GrantBlkGuest::setup_ring(uint16_t size, bool event_idx) {
    if (ring_ && ring_->size() == size && ring_->event_idx() == event_idx && blk_->in_flight() == 0) {
        ring_->reset_indices(0);
        return {};
    }
    blk_.reset();
    frontend::QueueOptions qo;
    qo.size = size;
    qo.event_idx = event_idx;
    qo.region = region_;
    auto ring = frontend::SplitQueue::create(mem_, 0, qo, &grants_);
    if (!ring) return std::unexpected(ring.error());
    ring_ = std::move(*ring);
    frontend::XenBlkQueueOptions bo;
    bo.depth = 32;
    bo.max_data = 64 * 1024;
    bo.region = region_;
    bo.expect_unmapped = expect_unmapped_;
    auto blk = frontend::XenBlkQueue::create(mem_, *ring_, files_, true, bo);
    if (!blk) return std::unexpected(blk.error());
    blk_ = std::move(*blk);
    // dma_alloc_coherent's grants: writable, for as long as the ring lives.
    for (const auto& a : frontend::ring_areas(ring_->desc_gpa(), ring_->avail_gpa(), ring_->used_gpa(), size))
        files_.set_grants(a.gpa, a.len, xendouble::kGrantedWritable);
    return {};
}

Result<void> GrantBlkGuest::queue(std::span<const frontend::BlkCommand> cmds) {
    for (const auto& c : cmds)
        if (auto s = blk_->submit(c); !s) return std::unexpected(s.error());
    return {};
}

void GrantBlkGuest::publish() {
    ring_->publish();
    if (ring_->kick_needed()) t_.notify(0);
}

Result<void> GrantBlkGuest::submit(std::span<const frontend::BlkCommand> cmds) {
    if (auto r = queue(cmds); !r) return r;
    publish();
    return {};
}

Result<void> GrantBlkGuest::drain(std::vector<frontend::BlkCompletion>& out) {
    auto got = blk_->poll(0, blk_->depth() + 1);
    if (!got) return std::unexpected(got.error());
    out.insert(out.end(), got->begin(), got->end());
    if (blk_->in_flight() == 0) ring_->arm_interrupt();
    return {};
}

Result<std::vector<frontend::BlkCompletion>> GrantBlkGuest::collect(size_t n, int timeout_ms) {
    std::vector<frontend::BlkCompletion> out;
    const int64_t deadline = frontend::now_ms() + timeout_ms;
    for (;;) {
        if (auto r = drain(out); !r) return std::unexpected(r.error());
        if (out.size() >= n) return out;
        const int64_t left = deadline - frontend::now_ms();
        if (auto w = wait_line(true, static_cast<int>(std::max<int64_t>(left, 0))); !w)
            return fail("{} of {} requests completed: {}", out.size(), n, w.error().message);
        const uint8_t isr = t_.take_interrupt();
        isr_seen_ |= isr;
        if ((isr & 0x2) && (t_.status() & kNeedsReset))
            return fail("{} of {} requests completed: the device needs a reset", out.size(), n);
    }
}

Result<void> GrantBlkGuest::wait_line(bool level, int timeout_ms) const {
    const int64_t deadline = frontend::now_ms() + timeout_ms;
    while (t_.line() != level) {
        if (frontend::now_ms() >= deadline) return fail("the interrupt line stayed at {} for {} ms", !level, timeout_ms);
        ::usleep(1000);
    }
    return {};
}

}  // namespace xenvhost::component
