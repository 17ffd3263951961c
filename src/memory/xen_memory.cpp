#include "memory/xen_memory.hpp"

#include <cstring>
#include <variant>

namespace xenvhost::memory {

// One batched mapping; counts its unmap for the device's statistics.
struct XenMemory::FrameMapping {
    std::variant<xen::GrantMapping, xen::ForeignMapping> mapping;
    uint8_t* data = nullptr;
    std::shared_ptr<MapStats> stats;
    ~FrameMapping() {
        if (data) stats->unmap_calls.fetch_add(1, std::memory_order_relaxed);
    }
};

namespace {

std::unexpected<Error> outside(uint64_t gpa, uint64_t len) {
    return fail_as(ErrorKind::kGuestFault, "buffer gpa {:#x} len {} lies outside guest memory", gpa, len);
}

}  // namespace

std::string_view XenMemory::mode() const {
    bool foreign = false;
    for (const auto& r : table_.regions()) {
        if (r->desc().kind == XenRegionKind::kGrant) return "grant";
        foreign |= r->desc().kind == XenRegionKind::kForeign;
    }
    return foreign ? "foreign" : "mmap";
}

Result<std::unique_ptr<XenMemory::FrameMapping>> XenMemory::map_frames(XenRegionKind kind, uint32_t domid,
                                                                       std::span<const uint64_t> frames,
                                                                       bool writable) const {
    stats_->map_calls.fetch_add(1, std::memory_order_relaxed);
    auto fm = std::make_unique<FrameMapping>();
    fm->stats = stats_;
    if (kind == XenRegionKind::kGrant) {
        if (!handles_.grants) return fail_as(ErrorKind::kPolicy, "grant mapping is not available on this host");
        std::vector<uint32_t> refs(frames.begin(), frames.end());
        auto m = handles_.grants->map(domid, refs, writable);
        if (!m) {
            stats_->map_failures.fetch_add(1, std::memory_order_relaxed);
            return pass(m.error(), ErrorKind::kMapFailure);
        }
        fm->data = m->data();
        fm->mapping = std::move(*m);
    } else {
        if (!handles_.foreign) return fail_as(ErrorKind::kPolicy, "foreign mapping is not available on this host");
        auto m = handles_.foreign->map(domid, frames, writable);
        if (!m) {
            stats_->map_failures.fetch_add(1, std::memory_order_relaxed);
            return pass(m.error(), ErrorKind::kMapFailure);
        }
        fm->data = m->data();
        fm->mapping = std::move(*m);
    }
    stats_->pages_mapped.fetch_add(frames.size(), std::memory_order_relaxed);
    return fm;
}

Result<RingMapping> XenMemory::map_ring(uint64_t gpa, uint64_t len, bool writable) const {
    const Region* r = table_.find(gpa);
    if (!r || len > r->gpa_end() - gpa)
        return fail_as(ErrorKind::kGuestFault, "ring area gpa {:#x} len {:#x} is not inside one memory region", gpa, len);
    if (r->mapped()) return RingMapping{r->host() + (gpa - r->gpa()), shared_from_this()};
    std::vector<uint64_t> frames;
    auto span = gather_pages(r->desc().kind, gpa, len, frames);
    if (!span) return std::unexpected(span.error());
    auto fm = map_frames(r->desc().kind, r->desc().domid, frames, writable);
    if (!fm) return fail_as(ErrorKind::kMapFailure, "ring area gpa {:#x}: {}", gpa, fm.error().message);
    uint8_t* host = (*fm)->data + span->offset;
    return RingMapping{host, std::shared_ptr<const void>(std::move(*fm))};
}

bool XenMemory::read(uint64_t gpa, std::span<uint8_t> dst) const {
    size_t done = 0;
    while (done < dst.size()) {
        const uint64_t addr = gpa + done;
        const Region* r = table_.find(addr);
        if (!r) return false;
        const size_t piece = static_cast<size_t>(std::min<uint64_t>(dst.size() - done, r->gpa_end() - addr));
        if (r->mapped()) {
            std::memcpy(dst.data() + done, r->host() + (addr - r->gpa()), piece);
        } else {
            std::vector<uint64_t> frames;
            auto span = gather_pages(r->desc().kind, addr, piece, frames);
            if (!span) return false;
            auto fm = map_frames(r->desc().kind, r->desc().domid, frames, false);
            if (!fm) return false;
            std::memcpy(dst.data() + done, (*fm)->data + span->offset, piece);
        }
        done += piece;
    }
    return true;
}

Result<> XenMemory::map_buffers(std::span<const GuestBuffer> buffers, MappedBuffers& out) const {
    struct Batch {
        XenRegionKind kind;
        uint32_t domid;
        bool writable;
        std::vector<uint64_t> frames;
    };
    struct Pending {
        bool writable;
        size_t iov;
        size_t batch;
        PageSpan span;
    };
    std::vector<Batch> batches;
    std::vector<Pending> pending;
    for (const auto& b : buffers) {
        auto& list = b.writable ? out.in : out.out;
        uint64_t done = 0;
        while (done < b.len) {
            const uint64_t addr = b.gpa + done;
            const Region* r = table_.find(addr);
            if (!r) return outside(b.gpa, b.len);
            const uint64_t piece = std::min<uint64_t>(b.len - done, r->gpa_end() - addr);
            if (r->mapped()) {
                list.push_back(iovec{r->host() + (addr - r->gpa()), piece});
            } else {
                const auto& d = r->desc();
                size_t bi = 0;
                while (bi < batches.size() && !(batches[bi].kind == d.kind && batches[bi].domid == d.domid &&
                                                batches[bi].writable == b.writable))
                    ++bi;
                if (bi == batches.size()) batches.push_back(Batch{d.kind, d.domid, b.writable, {}});
                auto span = gather_pages(d.kind, addr, piece, batches[bi].frames);
                if (!span) return pass(span.error(), ErrorKind::kGuestFault);
                list.push_back(iovec{nullptr, piece});
                pending.push_back(Pending{b.writable, list.size() - 1, bi, *span});
            }
            done += piece;
        }
    }
    if (batches.empty()) {
        out.keep = shared_from_this();
        return {};
    }
    auto maps = std::make_shared<std::vector<std::unique_ptr<FrameMapping>>>();
    maps->reserve(batches.size());
    for (const auto& batch : batches) {
        auto fm = map_frames(batch.kind, batch.domid, batch.frames, batch.writable);
        if (!fm) return pass(fm.error(), ErrorKind::kMapFailure);
        maps->push_back(std::move(*fm));
    }
    for (const auto& p : pending) {
        auto& list = p.writable ? out.in : out.out;
        list[p.iov].iov_base = (*maps)[p.batch]->data + p.span.first_page * kXenPageSize + p.span.offset;
    }
    out.keep = std::move(maps);
    return {};
}

}  // namespace xenvhost::memory
