#include "frontend/blk_queue.hpp"

#include "frontend/bytes.hpp"

#include <cstring>

namespace xenvhost::frontend {

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
    }
    return q;
}

Result<unsigned> BlkQueue::submit(const BlkCommand& cmd) {
    auto slot = free_slot();
    if (!slot) return std::unexpected(slot.error());
    const unsigned idx = *slot;
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
    track(*head, BlkCompletion{idx, cmd.tag, kStatusUnwritten, 0, cmd.type, data_gpa, data_len}, s.status_gpa);
    return idx;
}

Result<std::vector<uint8_t>> BlkQueue::get_id() {
    std::vector<uint8_t> in;
    if (auto c = run_ok(BlkCommand::get_id(), "get-id", &in); !c) return std::unexpected(c.error());
    return in;
}

Result<void> BlkQueue::discard(uint64_t sector, uint32_t sectors) {
    if (auto c = run_ok(BlkCommand::discard(sector, sectors), "discard"); !c) return std::unexpected(c.error());
    return {};
}

Result<void> BlkQueue::write_zeroes(uint64_t sector, uint32_t sectors, bool unmap) {
    if (auto c = run_ok(BlkCommand::write_zeroes(sector, sectors, unmap), "write-zeroes"); !c)
        return std::unexpected(c.error());
    return {};
}

}  // namespace xenvhost::frontend
