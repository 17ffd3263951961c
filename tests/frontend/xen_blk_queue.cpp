#include "frontend/xen_blk_queue.hpp"

#include "frontend/bytes.hpp"

#include <time.h>

namespace xenvhost::frontend {

namespace xd = xendouble;

namespace {

constexpr uint64_t kPage = xd::kPageSize;

int64_t now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

bool device_writes_data(uint32_t type) { return type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID; }

}  // namespace

Result<std::unique_ptr<XenBlkQueue>> XenBlkQueue::create(GuestMemory& mem, SplitQueue& queue, XenDoubleFiles& files,
                                                         bool grants, const XenBlkQueueOptions& opts) {
    if (opts.depth == 0 || opts.depth > queue.size())
        return fail("depth {} does not fit queue size {}", opts.depth, queue.size());
    std::unique_ptr<XenBlkQueue> q(new XenBlkQueue(mem, queue, files, grants, opts));
    q->slots_.resize(opts.depth);
    const uint64_t data_bytes = (uint64_t{opts.max_data} + kPage - 1) / kPage * kPage;
    for (unsigned i = 0; i < opts.depth; ++i) {
        Slot& s = q->slots_[i];
        auto hdr = mem.alloc(kPage, kPage, opts.region);
        auto status = mem.alloc(kPage, kPage, opts.region);
        auto data = mem.alloc(data_bytes ? data_bytes : kPage, kPage, opts.region);
        if (!hdr || !status || !data) return fail("no guest memory for blk slot {}", i);
        s.pages = SlotPages{*hdr, *status, *data, 0};
        q->free_slots_.push_back(opts.depth - 1 - i);
    }
    q->head_to_slot_.assign(queue.size(), -1);
    return q;
}

XenBlkQueue::SlotPages XenBlkQueue::slot_pages(unsigned slot) const { return slots_.at(slot).pages; }

Result<unsigned> XenBlkQueue::submit(const BlkCommand& cmd) {
    if (cmd.type != VIRTIO_BLK_T_IN && cmd.type != VIRTIO_BLK_T_OUT && cmd.type != VIRTIO_BLK_T_FLUSH &&
        cmd.type != VIRTIO_BLK_T_GET_ID)
        return fail("request type {} is not supported by the Xen blk driver", cmd.type);
    if (free_slots_.empty()) return fail("all {} slots are in flight", slots_.size());
    const unsigned idx = free_slots_.back();
    Slot& s = slots_[idx];
    const uint64_t data_gpa = cmd.data_gpa.value_or(s.pages.data_gpa);
    uint32_t data_len = cmd.type == VIRTIO_BLK_T_FLUSH ? 0 : cmd.data_len;
    if (cmd.type == VIRTIO_BLK_T_OUT && !cmd.out_data.empty()) data_len = static_cast<uint32_t>(cmd.out_data.size());
    if (!cmd.data_gpa && data_len > opts_.max_data)
        return fail("{} data bytes exceed the slot buffer of {}", data_len, opts_.max_data);

    virtio_blk_outhdr hdr{cmd.type, cmd.ioprio, cmd.sector};
    if (auto w = mem_.write(s.pages.header_gpa, bytes_of(hdr)); !w) return std::unexpected(w.error());
    uint8_t unwritten = kStatusUnwritten;
    if (auto w = mem_.write(s.pages.status_gpa, {&unwritten, 1}); !w) return std::unexpected(w.error());
    if (cmd.type == VIRTIO_BLK_T_OUT && !cmd.out_data.empty())
        if (auto w = mem_.write(data_gpa, cmd.out_data); !w) return std::unexpected(w.error());

    const bool writes = device_writes_data(cmd.type);
    std::vector<Buffer> chain;
    chain.push_back({s.pages.header_gpa, sizeof hdr, false});
    const uint32_t seg = opts_.segment_size ? opts_.segment_size : data_len;
    for (uint32_t off = 0; off < data_len; off += seg)
        chain.push_back({data_gpa + off, std::min(seg, data_len - off), writes});
    chain.push_back({s.pages.status_gpa, 1, true});

    // Grant before the descriptors become visible, as dma_map does.
    if (grants_) {
        files_.set_grants(s.pages.header_gpa, sizeof hdr, xd::kGrantedReadOnly);
        files_.set_grants(s.pages.status_gpa, 1, xd::kGrantedWritable);
        if (data_len)
            files_.set_grants(data_gpa, data_len, writes ? xd::kGrantedWritable : xd::kGrantedReadOnly);
    }
    auto head = queue_.add(chain);
    if (!head) return std::unexpected(head.error());
    s.busy = true;
    s.pages.data_len = data_len;
    s.pending = BlkCompletion{idx, cmd.tag, kStatusUnwritten, 0, cmd.type, data_gpa, data_len};
    head_to_slot_[*head] = static_cast<int>(idx);
    free_slots_.pop_back();
    ++in_flight_;
    return idx;
}

Result<void> XenBlkQueue::end_access(const Slot& s) {
    // The back-end must have unmapped every buffer before publishing the
    // used element; a page still mapped now is a grant the guest cannot end.
    struct {
        uint64_t gpa;
        uint64_t len;
        const char* what;
    } parts[] = {{s.pages.header_gpa, sizeof(virtio_blk_outhdr), "header"},
                 {s.pending.data_gpa, s.pending.data_len, "data"},
                 {s.pages.status_gpa, 1, "status"}};
    for (const auto& p : parts) {
        if (!opts_.expect_unmapped) break;
        if (auto page = files_.first_mapped(p.gpa, p.len))
            return fail("request in slot {} completed while the back-end still maps its {} page {:#x}",
                        s.pending.slot, p.what, *page);
    }
    if (grants_)
        for (const auto& p : parts) files_.set_grants(p.gpa, p.len, xd::kNotGranted);
    return {};
}

Result<void> XenBlkQueue::collect(std::vector<BlkCompletion>& out) {
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
        if (auto r = mem_.read(s.pages.status_gpa, {&c.status, 1}); !r) return std::unexpected(r.error());
        s.busy = false;
        free_slots_.push_back(static_cast<unsigned>(idx));
        --in_flight_;
        if (auto r = end_access(s); !r) return r;
        out.push_back(c);
    }
}

Result<std::vector<BlkCompletion>> XenBlkQueue::poll(int timeout_ms, size_t min) {
    std::vector<BlkCompletion> out;
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (auto r = collect(out); !r) return std::unexpected(r.error());
        if (out.size() >= min || in_flight_ == 0) return out;
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

Result<std::vector<uint8_t>> XenBlkQueue::data(const BlkCompletion& c) const {
    std::vector<uint8_t> buf(c.data_len);
    if (auto r = mem_.read(c.data_gpa, buf); !r) return std::unexpected(r.error());
    return buf;
}

Result<BlkCompletion> XenBlkQueue::run(const BlkCommand& cmd, std::vector<uint8_t>* in, int timeout_ms) {
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

Result<std::vector<uint8_t>> XenBlkQueue::read(uint64_t sector, uint32_t len) {
    std::vector<uint8_t> in;
    auto c = run(BlkCommand::in(sector, len), &in);
    if (!c) return std::unexpected(c.error());
    if (c->status != VIRTIO_BLK_S_OK) return fail("read completed with status {}", blk_status_name(c->status));
    if (c->used_len != len + 1) return fail("read of {} bytes reported used length {}", len, c->used_len);
    return in;
}

Result<void> XenBlkQueue::write(uint64_t sector, std::span<const uint8_t> data) {
    auto c = run(BlkCommand::out(sector, data));
    if (!c) return std::unexpected(c.error());
    if (c->status != VIRTIO_BLK_S_OK) return fail("write completed with status {}", blk_status_name(c->status));
    return {};
}

Result<void> XenBlkQueue::flush_cache() {
    auto c = run(BlkCommand::flush());
    if (!c) return std::unexpected(c.error());
    if (c->status != VIRTIO_BLK_S_OK) return fail("flush completed with status {}", blk_status_name(c->status));
    return {};
}

}  // namespace xenvhost::frontend
