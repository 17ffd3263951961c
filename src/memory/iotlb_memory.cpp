#include "memory/iotlb_memory.hpp"

#include <cstring>

namespace xenvhost::memory {

Result<std::span<uint8_t>> IotlbMemory::translate(uint64_t iova, uint64_t len, uint8_t perm) const {
    Iotlb::Fault fault{};
    auto hit = iotlb_->translate(iova, len, perm, fault);
    if (!hit) {
        if (fault == Iotlb::Fault::kDenied)
            return fail_as(ErrorKind::kMapFailure, "IOVA {:#x}: access not permitted by the IOMMU", iova);
        return fail_as(ErrorKind::kMapFailure, "IOVA {:#x}: no IOTLB translation", iova);
    }
    const Region* r = table_.find_uaddr(hit->uaddr);
    if (!r || !r->mapped())
        return fail_as(ErrorKind::kGuestFault, "IOVA {:#x} translates outside guest memory", iova);
    const uint64_t offset = hit->uaddr - r->uaddr();
    const uint64_t n = std::min(hit->len, r->size() - offset);
    return std::span<uint8_t>(r->host() + offset, static_cast<size_t>(n));
}

Result<RingMapping> IotlbMemory::map_ring(uint64_t iova, uint64_t len, bool writable) const {
    // A ring larger than a page may come as one translation per page; it is
    // usable if those land contiguously in our mapping.
    uint8_t* start = nullptr;
    uint64_t done = 0;
    while (done < len) {
        auto span = translate(iova + done, len - done, writable ? iotlb_perm::kReadWrite : iotlb_perm::kRead);
        if (!span) return std::unexpected(span.error());
        if (span->empty()) return fail("ring area IOVA {:#x}: empty translation", iova + done);
        if (!start) start = span->data();
        else if (span->data() != start + done)
            return fail("ring area IOVA {:#x} len {:#x} is not contiguous in memory", iova, len);
        done += span->size();
    }
    return RingMapping{start, shared_from_this()};
}

bool IotlbMemory::read(uint64_t iova, std::span<uint8_t> dst) const {
    size_t done = 0;
    while (done < dst.size()) {
        auto span = translate(iova + done, dst.size() - done, iotlb_perm::kRead);
        if (!span || span->empty()) return false;
        std::memcpy(dst.data() + done, span->data(), span->size());
        done += span->size();
    }
    return true;
}

namespace {
// A request slot's lease, reused request after request; ended on release.
struct LeaseScratch final : MapScratch {
    Iotlb::Lease lease;
    void release() override { lease.end(); }
};
}  // namespace

Result<> IotlbMemory::map_buffers(std::span<const GuestBuffer> buffers, MappedBuffers& out) const {
    // The lease is claimed before any translation and held once all are
    // made: an invalidation that comes meanwhile (while this request waits
    // for a MISS answer, say) makes it stale, and the request translates
    // again rather than use what the IOMMU took away.
    auto& s = out.scratch_as<LeaseScratch>();
    s.release();
    s.lease.ranges.clear();
    for (const auto& b : buffers) s.lease.ranges.emplace_back(b.gpa, b.len);
    const size_t out_before = out.out.size(), in_before = out.in.size();
    constexpr int kAttempts = 8;
    for (int attempt = 1;; ++attempt) {
        iotlb_->claim(s.lease);
        for (const auto& b : buffers) {
            auto& list = b.writable ? out.in : out.out;
            const uint8_t perm = b.writable ? iotlb_perm::kWrite : iotlb_perm::kRead;
            uint64_t done = 0;
            while (done < b.len) {
                auto span = translate(b.gpa + done, b.len - done, perm);
                if (!span || span->empty()) {
                    s.release();
                    if (!span) return std::unexpected(span.error());
                    return fail("IOVA {:#x}: empty translation", b.gpa + done);
                }
                list.push_back(iovec{span->data(), span->size()});
                done += span->size();
            }
        }
        // Held until the request completes: invalidations of these ranges wait for it.
        if (iotlb_->hold(s.lease)) {
            out.keep = shared_from_this();
            return {};
        }
        s.release();
        out.out.resize(out_before);
        out.in.resize(in_before);
        if (attempt == kAttempts)
            return fail_as(ErrorKind::kMapFailure,
                           "IOVA {:#x}: the request's ranges were invalidated {} times while being translated",
                           buffers.empty() ? 0 : buffers[0].gpa, kAttempts);
    }
}

}  // namespace xenvhost::memory
