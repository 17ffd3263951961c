#include "frontend/blk_queue.hpp"

#include "frontend/bytes.hpp"

#include <time.h>

#include <cstring>

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

Result<std::unique_ptr<BlkQueue>> BlkQueue::create(GuestMemory& mem, SplitQueue& queue,
                                                   const BlkQueueOptions& opts) {
    if (opts.depth == 0 || opts.depth > queue.size())
        return fail("depth {} does not fit queue size {}", opts.depth, queue.size());
    std::unique_ptr<BlkQueue> q(new BlkQueue(mem, queue, opts));
    q->slots_.resize(opts.depth);
    for (unsigned i = 0; i < opts.depth; ++i) {
        Slot& s = q->slots_[i];
        auto meta = mem.alloc(64 + kMaxSegments * sizeof(virtio_blk_discard_write_zeroes), 64,
                              opts.region);
        auto data = mem.alloc(opts.max_data, 4096, opts.region);
        if (!meta || !data) return fail("no guest memory for blk slot {}", i);
        s.hdr_gpa = *meta;
        s.status_gpa = *meta + 32;
        s.seg_gpa = *meta + 64;
        s.data_gpa = *data;
        q->free_slots_.push_back(opts.depth - 1 - i);
    }
    q->head_to_slot_.assign(queue.size(), -1);
    return q;
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

Result<unsigned> BlkQueue::submit(const BlkCommand& cmd) {
    if (free_slots_.empty()) return fail("all {} slots are in flight", slots_.size());
    unsigned idx = free_slots_.back();
    Slot& s = slots_[idx];

    virtio_blk_outhdr hdr{cmd.type, cmd.ioprio, cmd.sector};
    if (auto w = mem_.write(s.hdr_gpa, bytes_of(hdr)); !w) return std::unexpected(w.error());
    uint8_t unwritten = kStatusUnwritten;
    if (auto w = mem_.write(s.status_gpa, {&unwritten, 1}); !w) return std::unexpected(w.error());

    uint64_t data_gpa = cmd.data_gpa.value_or(s.data_gpa);
    uint32_t data_len = cmd.data_len;
    bool device_writes = cmd.type == VIRTIO_BLK_T_IN || cmd.type == VIRTIO_BLK_T_GET_ID;
    if (cmd.type == VIRTIO_BLK_T_OUT && !cmd.out_data.empty()) {
        data_len = static_cast<uint32_t>(cmd.out_data.size());
        if (auto w = mem_.write(data_gpa, cmd.out_data); !w) return std::unexpected(w.error());
    }
    if (!cmd.segments.empty()) {
        if (cmd.segments.size() > kMaxSegments) return fail("too many segments");
        data_gpa = s.seg_gpa;
        data_len = static_cast<uint32_t>(cmd.segments.size() * sizeof(cmd.segments[0]));
        device_writes = false;
        auto bytes = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(cmd.segments.data()),
                                              data_len);
        if (auto w = mem_.write(data_gpa, bytes); !w) return std::unexpected(w.error());
    }
    if (!cmd.data_gpa && data_len > opts_.max_data)
        return fail("{} data bytes exceed the slot buffer of {}", data_len, opts_.max_data);

    std::vector<Buffer> chain;
    chain.push_back({s.hdr_gpa, sizeof hdr, false});
    uint32_t seg = (opts_.segment_size && cmd.segments.empty()) ? opts_.segment_size : data_len;
    for (uint32_t off = 0; off < data_len; off += seg)
        chain.push_back({data_gpa + off, std::min(seg, data_len - off), device_writes});
    chain.push_back({s.status_gpa, 1, true});

    auto head = queue_.add(chain, opts_.indirect);
    if (!head) return std::unexpected(head.error());
    s.busy = true;
    s.head = *head;
    s.pending = BlkCompletion{idx, cmd.tag, kStatusUnwritten, 0, cmd.type, data_gpa, data_len};
    head_to_slot_[*head] = static_cast<int>(idx);
    free_slots_.pop_back();
    ++in_flight_;
    return idx;
}

Result<void> BlkQueue::collect(std::vector<BlkCompletion>& out) {
    for (;;) {
        auto u = queue_.pop_used();
        if (!u) return std::unexpected(u.error());
        if (!*u) return {};
        int idx = head_to_slot_[(*u)->id];
        if (idx < 0) return fail("completion for head {} that no request owns", (*u)->id);
        Slot& s = slots_[static_cast<unsigned>(idx)];
        head_to_slot_[(*u)->id] = -1;
        BlkCompletion c = s.pending;
        c.used_len = (*u)->len;
        if (auto r = mem_.read(s.status_gpa, {&c.status, 1}); !r) return std::unexpected(r.error());
        s.busy = false;
        free_slots_.push_back(static_cast<unsigned>(idx));
        --in_flight_;
        out.push_back(c);
    }
}

static int64_t now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

Result<std::vector<BlkCompletion>> BlkQueue::poll(int timeout_ms, size_t min) {
    std::vector<BlkCompletion> out;
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (auto r = collect(out); !r) return std::unexpected(r.error());
        if (out.size() >= min || in_flight_ == 0) return out;
        // Ask for a call, then look again: a completion may have landed in between.
        if (!queue_.arm_interrupt()) continue;
        int64_t left = deadline - now_ms();
        if (left <= 0) return out;
        auto w = queue_.wait_call(static_cast<int>(left));
        if (!w) return std::unexpected(w.error());
        if (!*w) {
            if (auto r = collect(out); !r) return std::unexpected(r.error());
            return out;
        }
    }
}

Result<std::vector<uint8_t>> BlkQueue::data(const BlkCompletion& c) const {
    std::vector<uint8_t> buf(c.data_len);
    if (auto r = mem_.read(c.data_gpa, buf); !r) return std::unexpected(r.error());
    return buf;
}

Result<BlkCompletion> BlkQueue::run(const BlkCommand& cmd, std::vector<uint8_t>* in,
                                    int timeout_ms) {
    if (in_flight_) return fail("run() needs an idle queue ({} in flight)", in_flight_);
    auto slot = submit(cmd);
    if (!slot) return std::unexpected(slot.error());
    flush();
    auto done = poll(timeout_ms, 1);
    if (!done) return std::unexpected(done.error());
    if (done->empty())
        return std::unexpected(Error{fmt::format("request type {} sector {} not completed in {} ms",
                                                 cmd.type, cmd.sector, timeout_ms),
                                     ETIMEDOUT});
    BlkCompletion c = done->front();
    if (in) {
        auto d = data(c);
        if (!d) return std::unexpected(d.error());
        *in = std::move(*d);
    }
    return c;
}

static Result<void> expect_ok(const BlkCompletion& c, const char* what) {
    if (c.status != VIRTIO_BLK_S_OK)
        return fail("{} completed with status {} ({})", what, c.status, blk_status_name(c.status));
    return {};
}

Result<std::vector<uint8_t>> BlkQueue::read(uint64_t sector, uint32_t len) {
    std::vector<uint8_t> in;
    auto c = run(BlkCommand::in(sector, len), &in);
    if (!c) return std::unexpected(c.error());
    if (auto r = expect_ok(*c, "read"); !r) return std::unexpected(r.error());
    if (c->used_len != len + 1)
        return fail("read of {} bytes reported used length {}", len, c->used_len);
    return in;
}

Result<void> BlkQueue::write(uint64_t sector, std::span<const uint8_t> data) {
    auto c = run(BlkCommand::out(sector, data));
    if (!c) return std::unexpected(c.error());
    return expect_ok(*c, "write");
}

Result<void> BlkQueue::flush_cache() {
    auto c = run(BlkCommand::flush());
    if (!c) return std::unexpected(c.error());
    return expect_ok(*c, "flush");
}

Result<std::vector<uint8_t>> BlkQueue::get_id() {
    std::vector<uint8_t> in;
    auto c = run(BlkCommand::get_id(), &in);
    if (!c) return std::unexpected(c.error());
    if (auto r = expect_ok(*c, "get-id"); !r) return std::unexpected(r.error());
    return in;
}

Result<void> BlkQueue::discard(uint64_t sector, uint32_t sectors) {
    auto c = run(BlkCommand::discard(sector, sectors));
    if (!c) return std::unexpected(c.error());
    return expect_ok(*c, "discard");
}

Result<void> BlkQueue::write_zeroes(uint64_t sector, uint32_t sectors, bool unmap) {
    auto c = run(BlkCommand::write_zeroes(sector, sectors, unmap));
    if (!c) return std::unexpected(c.error());
    return expect_ok(*c, "write-zeroes");
}

}  // namespace xenvhost::frontend
