#include "memory/xen_memory.hpp"

#include "memory/grant_copy.hpp"

#include <cstring>
#include <utility>
#include <variant>

namespace xenvhost::memory {

// One batched mapping; counts its unmap for the device's statistics.
struct XenMemory::FrameMapping {
    std::variant<xen::GrantMapping, xen::ForeignMapping> mapping;
    uint8_t* data = nullptr;
    std::shared_ptr<MapStats> stats;

    FrameMapping() = default;
    FrameMapping(FrameMapping&& o) noexcept
        : mapping(std::move(o.mapping)), data(std::exchange(o.data, nullptr)), stats(std::move(o.stats)) {}
    FrameMapping& operator=(FrameMapping&&) = delete;
    ~FrameMapping() {
        if (data && stats) stats->unmap_calls.fetch_add(1, std::memory_order_relaxed);
    }
};

// A request slot's storage: batches keep their frame lists' capacity when
// the slot is released, and the request's mappings are held (and unmapped
// on release) here.
struct XenMemory::Scratch final : MapScratch {
    struct Batch {
        XenRegionKind kind;
        uint32_t domid;
        bool writable;
        std::vector<uint64_t> frames;
    };
    struct Pending {  // an iovec waiting for its batch's (or the bounce buffer's) address
        bool writable;
        bool copied;  // in the bounce buffer at `bounce`, not in a batch
        size_t iov;
        size_t batch;
        PageSpan span;
        uint64_t bounce;
    };
    std::vector<Batch> batches;
    size_t batches_used = 0;  // batches past this are spare storage
    std::vector<Pending> pending;
    std::vector<uint32_t> refs;  // grant refs of one map call
    std::vector<int> errs;       // per-frame errors of one foreign map call
    std::vector<FrameMapping> maps;
    GrantCopies copies;
    xen::GrantTable* grants = nullptr;  // where copies go, while the request holds its memory
    MapStats* stats = nullptr;

    // `shared`: the batch of the same domain and protection if there is one
    // (one map per direction); otherwise a batch of its own (per access).
    Batch& batch(XenRegionKind kind, uint32_t domid, bool writable, bool shared, size_t& index) {
        for (index = 0; shared && index < batches_used; ++index) {
            const auto& b = batches[index];
            if (b.kind == kind && b.domid == domid && b.writable == writable) return batches[index];
        }
        index = batches_used;
        if (batches_used == batches.size()) batches.emplace_back();
        Batch& b = batches[batches_used++];
        b.kind = kind;
        b.domid = domid;
        b.writable = writable;
        b.frames.clear();
        return b;
    }
    void release() override {
        maps.clear();
        pending.clear();
        batches_used = 0;
        copies.clear();
    }
    Result<> finish() override {
        if (!copies.has_copy_back()) return {};
        return copies.copy_back(*grants, *stats);
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

Result<XenMemory::FrameMapping> XenMemory::map_frames(XenRegionKind kind, uint32_t domid,
                                                      std::span<const uint64_t> frames, bool writable,
                                                      Scratch& scratch) const {
    stats_->map_calls.fetch_add(1, std::memory_order_relaxed);
    FrameMapping fm;
    fm.stats = stats_;
    if (kind == XenRegionKind::kGrant) {
        if (!handles_.grants) return fail_as(ErrorKind::kPolicy, "grant mapping is not available on this host");
        scratch.refs.assign(frames.begin(), frames.end());  // gather_pages checked they fit 32 bits
        auto m = handles_.grants->map(domid, scratch.refs, writable);
        if (!m) {
            stats_->map_failures.fetch_add(1, std::memory_order_relaxed);
            return pass(m.error(), ErrorKind::kMapFailure);
        }
        fm.data = m->data();
        fm.mapping = std::move(*m);
    } else {
        if (!handles_.foreign) return fail_as(ErrorKind::kPolicy, "{}", handles_.foreign_unavailable());
        if (scratch.errs.size() < frames.size()) scratch.errs.resize(frames.size());
        auto m = handles_.foreign->map(domid, frames, writable, scratch.errs);
        if (!m) {
            stats_->map_failures.fetch_add(1, std::memory_order_relaxed);
            return pass(m.error(), ErrorKind::kMapFailure);
        }
        fm.data = m->data();
        fm.mapping = std::move(*m);
    }
    stats_->pages_mapped.fetch_add(frames.size(), std::memory_order_relaxed);
    return fm;
}

Result<RingMapping> XenMemory::map_ring(uint64_t gpa, uint64_t len, bool writable) const {
    const Region* r = table_.find(gpa);
    if (!r || len > r->gpa_end() - gpa)
        return fail_as(ErrorKind::kGuestFault, "ring area gpa {:#x} len {:#x} is not inside one memory region", gpa, len);
    if (r->mapped()) return RingMapping{r->host() + (gpa - r->gpa()), shared_from_this()};
    Scratch scratch;  // once per ring start: no slot to borrow from
    std::vector<uint64_t> frames;
    auto span = gather_pages(r->desc().kind, gpa, len, frames);
    if (!span) return std::unexpected(span.error());
    auto fm = map_frames(r->desc().kind, r->desc().domid, frames, writable, scratch);
    if (!fm) return fail_as(ErrorKind::kMapFailure, "ring area gpa {:#x}: {}", gpa, fm.error().message);
    uint8_t* host = fm->data + span->offset;
    return RingMapping{host, std::make_shared<FrameMapping>(std::move(*fm))};
}

bool XenMemory::read_fresh(uint64_t gpa, std::span<uint8_t> dst) const {
    const Region* r = table_.find(gpa);
    if (!r || dst.size() > r->gpa_end() - gpa) return false;
    if (r->desc().kind != XenRegionKind::kForeign && r->desc().kind != XenRegionKind::kGrant) return read(gpa, dst);
    Scratch scratch;
    std::vector<uint64_t> frames;
    auto span = gather_pages(r->desc().kind, gpa, dst.size(), frames);
    if (!span) return false;
    auto fm = map_frames(r->desc().kind, r->desc().domid, frames, false, scratch);
    if (!fm) return false;
    std::memcpy(dst.data(), fm->data + span->offset, dst.size());
    return true;
}

bool XenMemory::read(uint64_t gpa, std::span<uint8_t> dst) const {
    Scratch scratch;
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
            auto fm = map_frames(r->desc().kind, r->desc().domid, frames, false, scratch);
            if (!fm) return false;
            std::memcpy(dst.data() + done, fm->data + span->offset, piece);
        }
        done += piece;
    }
    return true;
}

Result<> XenMemory::map_buffers(std::span<const GuestBuffer> buffers, MappedBuffers& out) const {
    auto& s = out.scratch_as<Scratch>();
    s.release();  // whatever a failed earlier call left
    uint64_t total = 0;
    for (const auto& b : buffers) total += b.len;
    const GrantAccess access = resolve_grant_access(access_, total);
    const bool copy = access == GrantAccess::kCopy && handles_.grants;
    const bool shared = access != GrantAccess::kPerAccess;
    for (const auto& b : buffers) {
        auto& list = b.writable ? out.in : out.out;
        uint64_t done = 0;
        while (done < b.len) {
            const uint64_t addr = b.gpa + done;
            const Region* r = table_.find(addr);
            if (!r) return outside(b.gpa, b.len);
            const uint64_t piece = std::min<uint64_t>(b.len - done, r->gpa_end() - addr);
            const auto& d = r->desc();
            if (r->mapped()) {
                list.push_back(iovec{r->host() + (addr - r->gpa()), piece});
            } else if (copy && d.kind == XenRegionKind::kGrant) {
                auto at = s.copies.add(addr, piece, d.domid, b.writable);
                if (!at) return pass(at.error(), ErrorKind::kGuestFault);
                list.push_back(iovec{nullptr, piece});
                s.pending.push_back(Scratch::Pending{b.writable, true, list.size() - 1, 0, {}, *at});
            } else {
                size_t bi = 0;
                auto& batch = s.batch(d.kind, d.domid, b.writable, shared, bi);
                auto span = gather_pages(d.kind, addr, piece, batch.frames);
                if (!span) return pass(span.error(), ErrorKind::kGuestFault);
                list.push_back(iovec{nullptr, piece});
                s.pending.push_back(Scratch::Pending{b.writable, false, list.size() - 1, bi, *span, 0});
            }
            done += piece;
        }
    }
    out.keep = shared_from_this();
    s.grants = handles_.grants.get();
    s.stats = stats_.get();
    uint8_t* bounce = nullptr;
    if (copy) {
        auto placed = s.copies.place();
        if (!placed) return pass(placed.error(), ErrorKind::kInternal);
        bounce = *placed;
        if (auto r = s.copies.copy_in(*handles_.grants, *stats_); !r) {
            s.release();
            return r;
        }
    }
    for (size_t i = 0; i < s.batches_used; ++i) {
        const auto& batch = s.batches[i];
        auto fm = map_frames(batch.kind, batch.domid, batch.frames, batch.writable, s);
        if (!fm) {
            s.release();  // what this request mapped so far goes at once
            return pass(fm.error(), ErrorKind::kMapFailure);
        }
        s.maps.push_back(std::move(*fm));
    }
    for (const auto& p : s.pending) {
        auto& list = p.writable ? out.in : out.out;
        list[p.iov].iov_base = p.copied ? bounce + p.bounce
                                        : s.maps[p.batch].data + p.span.first_page * kXenPageSize + p.span.offset;
    }
    return {};
}

}  // namespace xenvhost::memory
