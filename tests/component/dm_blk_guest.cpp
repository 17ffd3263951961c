#include "dm_blk_guest.hpp"

#include "frontend/clock.hpp"

#include <unistd.h>

namespace xenvhost::component {

using namespace vstatus;

Result<void> BlkGuest::bring_up(const BringUp& o) {
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
    if (o.msix) {
        if (!t_.enable_msix()) return fail("MSI-X could not be enabled");
        if (const uint16_t v = t_.set_config_vector(0); v != 0) return fail("config vector 0 reads back {:#x}", v);
        messages_ = 0;
    }
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
        t_.set_queue_rings(ring_->desc_gpa(), ring_->avail_gpa(), ring_->used_gpa());
    }
    if (o.msix)
        if (const uint16_t v = t_.set_queue_vector(1); v != 1) return fail("queue vector 1 reads back {:#x}", v);
    t_.enable_queue();
    t_.set_status(kAcknowledge | kDriver | kFeaturesOk | kDriverOk);
    last_status_ = t_.status();
    if (last_status_ != (kAcknowledge | kDriver | kFeaturesOk | kDriverOk))
        return fail("status {:#x} after DRIVER_OK", last_status_);
    return {};
}

// The same memory serves every bring-up of the same shape: after a reset
// the driver starts its rings over at index 0.
Result<void> BlkGuest::setup_ring(uint16_t size, bool event_idx) {
    if (ring_ && ring_->size() == size && ring_->event_idx() == event_idx && blk_->in_flight() == 0) {
        ring_->reset_indices(0);
        return {};
    }
    blk_.reset();
    frontend::QueueOptions qo;
    qo.size = size;
    qo.event_idx = event_idx;
    qo.region = region_;
    auto ring = frontend::SplitQueue::create(mem_, 0, qo, &gpa_);
    if (!ring) return std::unexpected(ring.error());
    ring_ = std::move(*ring);
    frontend::BlkQueueOptions bo;
    bo.depth = 32;
    bo.max_data = 64 * 1024;
    bo.region = region_;
    auto blk = frontend::BlkQueue::create(mem_, *ring_, bo);
    if (!blk) return std::unexpected(blk.error());
    blk_ = std::move(*blk);
    return {};
}

uint64_t BlkGuest::capacity() {
    for (;;) {
        const uint32_t gen = t_.config_generation();
        const uint64_t value = t_.read_config(0, 4) | t_.read_config(4, 4) << 32;
        if (t_.config_generation() == gen) return value;
    }
}

Result<void> BlkGuest::submit(std::span<const frontend::BlkCommand> cmds) {
    for (const auto& c : cmds)
        if (auto s = blk_->submit(c); !s) return std::unexpected(s.error());
    ring_->publish();
    if (ring_->kick_needed()) {
        t_.notify(0);
        ++notifies_;
    }
    return {};
}

Result<void> BlkGuest::drain(std::vector<frontend::BlkCompletion>& out) {
    auto got = blk_->poll(0, blk_->depth() + 1);  // collects all, re-arms while any is in flight
    if (!got) return std::unexpected(got.error());
    out.insert(out.end(), got->begin(), got->end());
    if (blk_->in_flight() == 0) ring_->arm_interrupt();
    return {};
}

Result<std::vector<frontend::BlkCompletion>> BlkGuest::collect(size_t n, int timeout_ms) {
    std::vector<frontend::BlkCompletion> out;
    const int64_t deadline = frontend::now_ms() + timeout_ms;
    for (;;) {
        if (auto r = drain(out); !r) return std::unexpected(r.error());
        if (out.size() >= n) return out;
        if (auto w = take_interrupt(deadline); !w)
            return fail("{} of {} requests completed: {}", out.size(), n, w.error().message);
    }
}

// vp_vring_interrupt for a queue's own vector reads nothing; vp_interrupt
// (INTx) reads the ISR and looks for a config change.
Result<void> BlkGuest::take_interrupt(int64_t deadline) {
    if (auto seen = t_.queue_messages(0)) {
        while (*seen <= messages_) {
            if (frontend::now_ms() >= deadline) return fail("no MSI for the queue's vector after {} of them", messages_);
            ::usleep(1000);
            seen = t_.queue_messages(0);
        }
        messages_ = *seen;
        ++interrupts_;
        return {};
    }
    if (auto w = wait_line(true, static_cast<int>(std::max<int64_t>(deadline - frontend::now_ms(), 0))); !w) return w;
    const uint8_t isr = t_.take_interrupt();
    isr_seen_ |= isr;
    ++interrupts_;
    ++isr_reads_;
    if ((isr & 0x2) && (t_.status() & kNeedsReset)) return fail("the device needs a reset");
    return {};
}

// The double records levels and nothing announces a change: looked at every
// millisecond until the deadline.
Result<void> BlkGuest::wait_line(bool level, int timeout_ms) const {
    const int64_t deadline = frontend::now_ms() + timeout_ms;
    while (t_.line() != level) {
        if (frontend::now_ms() >= deadline) return fail("the interrupt line stayed at {} for {} ms", !level, timeout_ms);
        ::usleep(1000);
    }
    return {};
}

}  // namespace xenvhost::component
