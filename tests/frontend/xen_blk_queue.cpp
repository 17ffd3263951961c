#include "frontend/xen_blk_queue.hpp"

#include "frontend/bytes.hpp"

namespace xenvhost::frontend {

namespace xd = xendouble;

namespace {

constexpr uint64_t kPage = xd::kPageSize;

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
        auto hdr = mem.alloc(kPage, kPage, opts.region);
        auto status = mem.alloc(kPage, kPage, opts.region);
        auto data = mem.alloc(data_bytes ? data_bytes : kPage, kPage, opts.region);
        if (!hdr || !status || !data) return fail("no guest memory for blk slot {}", i);
        q->slots_[i] = SlotPages{*hdr, *status, *data, 0};
    }
    return q;
}

XenBlkQueue::SlotPages XenBlkQueue::slot_pages(unsigned slot) const { return slots_.at(slot); }

Result<unsigned> XenBlkQueue::submit(const BlkCommand& cmd) {
    if (cmd.type != VIRTIO_BLK_T_IN && cmd.type != VIRTIO_BLK_T_OUT && cmd.type != VIRTIO_BLK_T_FLUSH &&
        cmd.type != VIRTIO_BLK_T_GET_ID)
        return fail("request type {} is not supported by the Xen blk driver", cmd.type);
    auto slot = free_slot();
    if (!slot) return std::unexpected(slot.error());
    const unsigned idx = *slot;
    SlotPages& s = slots_[idx];
    const uint64_t data_gpa = cmd.data_gpa.value_or(s.data_gpa);
    uint32_t data_len = cmd.type == VIRTIO_BLK_T_FLUSH ? 0 : cmd.data_len;
    if (cmd.type == VIRTIO_BLK_T_OUT && !cmd.out_data.empty()) data_len = static_cast<uint32_t>(cmd.out_data.size());
    if (!cmd.data_gpa && data_len > opts_.max_data)
        return fail("{} data bytes exceed the slot buffer of {}", data_len, opts_.max_data);

    virtio_blk_outhdr hdr{cmd.type, cmd.ioprio, cmd.sector};
    if (auto w = mem_.write(s.header_gpa, bytes_of(hdr)); !w) return std::unexpected(w.error());
    uint8_t unwritten = kStatusUnwritten;
    if (auto w = mem_.write(s.status_gpa, {&unwritten, 1}); !w) return std::unexpected(w.error());
    if (cmd.type == VIRTIO_BLK_T_OUT && !cmd.out_data.empty())
        if (auto w = mem_.write(data_gpa, cmd.out_data); !w) return std::unexpected(w.error());

    const bool writes = device_writes_data(cmd.type);
    std::vector<Buffer> chain;
    chain.push_back({s.header_gpa, sizeof hdr, false});
    const uint32_t seg = opts_.segment_size ? opts_.segment_size : data_len;
    for (uint32_t off = 0; off < data_len; off += seg)
        chain.push_back({data_gpa + off, std::min(seg, data_len - off), writes});
    chain.push_back({s.status_gpa, 1, true});

    // Grant before the descriptors become visible, as dma_map does.
    if (grants_) {
        files_.set_grants(s.header_gpa, sizeof hdr, xd::kGrantedReadOnly);
        files_.set_grants(s.status_gpa, 1, xd::kGrantedWritable);
        if (data_len)
            files_.set_grants(data_gpa, data_len, writes ? xd::kGrantedWritable : xd::kGrantedReadOnly);
    }
    auto head = queue_.add(chain);
    if (!head) return std::unexpected(head.error());
    s.data_len = data_len;
    track(*head, BlkCompletion{idx, cmd.tag, kStatusUnwritten, 0, cmd.type, data_gpa, data_len}, s.status_gpa);
    return idx;
}

Result<void> XenBlkQueue::completed(const BlkCompletion& c) {
    const SlotPages& s = slots_[c.slot];
    // The back-end must have unmapped every buffer before publishing the
    // used element; a page still mapped now is a grant the guest cannot end.
    struct {
        uint64_t gpa;
        uint64_t len;
        const char* what;
    } parts[] = {{s.header_gpa, sizeof(virtio_blk_outhdr), "header"},
                 {c.data_gpa, c.data_len, "data"},
                 {s.status_gpa, 1, "status"}};
    for (const auto& p : parts) {
        if (!opts_.expect_unmapped) break;
        if (auto page = files_.first_mapped(p.gpa, p.len))
            return fail("request in slot {} completed while the back-end still maps its {} page {:#x}",
                        c.slot, p.what, *page);
    }
    if (grants_)
        for (const auto& p : parts) files_.set_grants(p.gpa, p.len, xd::kNotGranted);
    return {};
}

}  // namespace xenvhost::frontend
