#include "frontend/blk_driver.hpp"

#include "frontend/clock.hpp"

namespace xenvhost::frontend {

const char* blk_status_name(uint8_t status) {
    switch (status) {
        case VIRTIO_BLK_S_OK: return "OK";
        case VIRTIO_BLK_S_IOERR: return "IOERR";
        case VIRTIO_BLK_S_UNSUPP: return "UNSUPP";
        case kStatusUnwritten: return "unwritten";
        default: return "invalid";
    }
}

BlkCommand BlkCommand::in(uint64_t sector, uint32_t len) {
    BlkCommand c;
    c.type = VIRTIO_BLK_T_IN;
    c.sector = sector;
    c.data_len = len;
    return c;
}

BlkCommand BlkCommand::out(uint64_t sector, std::span<const uint8_t> data) {
    BlkCommand c;
    c.type = VIRTIO_BLK_T_OUT;
    c.sector = sector;
    c.data_len = static_cast<uint32_t>(data.size());
    c.out_data = data;
    return c;
}

BlkCommand BlkCommand::flush() {
    BlkCommand c;
    c.type = VIRTIO_BLK_T_FLUSH;
    return c;
}

BlkCommand BlkCommand::get_id(uint32_t len) {
    BlkCommand c;
    c.type = VIRTIO_BLK_T_GET_ID;
    c.data_len = len;
    return c;
}

BlkCommand BlkCommand::discard(uint64_t sector, uint32_t sectors, uint32_t flags) {
    BlkCommand c;
    c.type = VIRTIO_BLK_T_DISCARD;
    c.segments.push_back({sector, sectors, flags});
    return c;
}

BlkCommand BlkCommand::write_zeroes(uint64_t sector, uint32_t sectors, bool unmap) {
    BlkCommand c;
    c.type = VIRTIO_BLK_T_WRITE_ZEROES;
    c.segments.push_back({sector, sectors, unmap ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0u});
    return c;
}

BlkDriver::BlkDriver(GuestMemory& mem, SplitQueue& queue, unsigned depth)
    : mem_(mem), queue_(queue), pending_(depth), head_to_slot_(queue.size(), -1) {
    // Slot 0 is taken first.
    for (unsigned i = 0; i < depth; ++i) free_slots_.push_back(depth - 1 - i);
}

Result<unsigned> BlkDriver::free_slot() const {
    if (free_slots_.empty()) return fail("all {} slots are in flight", pending_.size());
    return free_slots_.back();
}

void BlkDriver::track(uint16_t head, const BlkCompletion& pending, uint64_t status_gpa) {
    pending_[pending.slot] = Pending{pending, status_gpa};
    head_to_slot_[head] = static_cast<int>(pending.slot);
    free_slots_.pop_back();
    ++in_flight_;
}

Result<void> BlkDriver::collect(std::vector<BlkCompletion>& out) {
    for (;;) {
        auto u = queue_.pop_used();
        if (!u) return std::unexpected(u.error());
        if (!*u) return {};
        int idx = head_to_slot_[(*u)->id];
        if (idx < 0) return fail("completion for head {} that no request owns", (*u)->id);
        const Pending& p = pending_[static_cast<unsigned>(idx)];
        head_to_slot_[(*u)->id] = -1;
        BlkCompletion c = p.completion;
        c.used_len = (*u)->len;
        if (auto r = mem_.read(p.status_gpa, {&c.status, 1}); !r) return std::unexpected(r.error());
        free_slots_.push_back(static_cast<unsigned>(idx));
        --in_flight_;
        if (auto r = completed(c); !r) return r;
        out.push_back(c);
    }
}

Result<std::vector<BlkCompletion>> BlkDriver::poll(int timeout_ms, size_t min) {
    std::vector<BlkCompletion> out;
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (auto r = collect(out); !r) return std::unexpected(r.error());
        if (out.size() >= min || in_flight_ == 0) return out;
        // Ask for a call, then look again: a completion may have landed in between.
        if (!queue_.arm_interrupt()) continue;
        const int64_t left = deadline - now_ms();
        if (left <= 0) return out;
        auto w = queue_.wait_call(static_cast<int>(left));
        if (!w) return std::unexpected(w.error());
        if (!*w) {
            if (auto r = collect(out); !r) return std::unexpected(r.error());
            return out;
        }
    }
}

Result<std::vector<uint8_t>> BlkDriver::data(const BlkCompletion& c) const {
    std::vector<uint8_t> buf(c.data_len);
    if (auto r = mem_.read(c.data_gpa, buf); !r) return std::unexpected(r.error());
    return buf;
}

Result<BlkCompletion> BlkDriver::run(const BlkCommand& cmd, std::vector<uint8_t>* in, int timeout_ms) {
    if (in_flight_) return fail("run() needs an idle queue ({} in flight)", in_flight_);
    auto slot = submit(cmd);
    if (!slot) return std::unexpected(slot.error());
    flush();
    auto done = poll(timeout_ms, 1);
    if (!done) return std::unexpected(done.error());
    if (done->empty())
        return std::unexpected(Error{
            fmt::format("request type {} sector {} not completed in {} ms", cmd.type, cmd.sector, timeout_ms),
            ETIMEDOUT});
    BlkCompletion c = done->front();
    if (in) {
        auto d = data(c);
        if (!d) return std::unexpected(d.error());
        *in = std::move(*d);
    }
    return c;
}

Result<BlkCompletion> BlkDriver::run_ok(const BlkCommand& cmd, const char* what, std::vector<uint8_t>* in) {
    auto c = run(cmd, in);
    if (!c) return c;
    if (c->status != VIRTIO_BLK_S_OK)
        return fail("{} completed with status {} ({})", what, c->status, blk_status_name(c->status));
    return c;
}

Result<std::vector<uint8_t>> BlkDriver::read(uint64_t sector, uint32_t len) {
    std::vector<uint8_t> in;
    auto c = run_ok(BlkCommand::in(sector, len), "read", &in);
    if (!c) return std::unexpected(c.error());
    if (c->used_len != len + 1) return fail("read of {} bytes reported used length {}", len, c->used_len);
    return in;
}

Result<void> BlkDriver::write(uint64_t sector, std::span<const uint8_t> data) {
    if (auto c = run_ok(BlkCommand::out(sector, data), "write"); !c) return std::unexpected(c.error());
    return {};
}

Result<void> BlkDriver::flush_cache() {
    if (auto c = run_ok(BlkCommand::flush(), "flush"); !c) return std::unexpected(c.error());
    return {};
}

}  // namespace xenvhost::frontend
