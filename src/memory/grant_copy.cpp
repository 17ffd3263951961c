#include "memory/grant_copy.hpp"

#include "memory/xen_address.hpp"

#include <sys/mman.h>

#include <span>

namespace xenvhost::memory {
namespace {

constexpr uint64_t kPieceAlign = kXenPageSize;
// The buffer grows to what the request needs, in whole pages: a slot keeps
// no more than its largest request (a queue of 256 slots of 64 KiB reads
// keeps 18 MiB at most, touched only as far as requests reached).
constexpr uint64_t kBounceGrain = kXenPageSize;

uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

// One call for `segs`; every segment's status checked.
Result<> run(xen::GrantTable& grants, MapStats& stats, std::span<xen::GrantCopySegment> segs, const char* what) {
    if (segs.empty()) return {};
    stats.copy_calls.fetch_add(1, std::memory_order_relaxed);
    stats.copy_segments.fetch_add(segs.size(), std::memory_order_relaxed);
    if (auto r = grants.copy(segs); !r) {
        stats.copy_failures.fetch_add(1, std::memory_order_relaxed);
        return pass(r.error(), ErrorKind::kMapFailure);
    }
    for (const auto& s : segs) {
        if (s.status == 0) continue;
        stats.copy_failures.fetch_add(1, std::memory_order_relaxed);
        const auto& g = (s.flags & xen::kCopySourceGrant) ? s.source.grant : s.dest.grant;
        return fail_as(ErrorKind::kMapFailure, "grant copy {}: ref {} of domain {} (offset {}, {} bytes): Xen status {}",
                       what, g.ref, g.domid, g.offset, s.len, s.status);
    }
    return {};
}

}  // namespace

void GrantCopies::clear() {
    in_.clear();
    back_.clear();
    used_ = 0;
}

Result<uint64_t> GrantCopies::add(uint64_t addr, uint64_t len, uint32_t domid, bool device_written) {
    if (len == 0) return fail("empty buffer");
    if (!(addr & kGrantAddressFlag)) return fail("address {:#x} is not a grant address", addr);
    const uint64_t base = addr & ~kGrantAddressFlag;
    if (base + len > kGrantAddressFlag || ((base + len - 1) >> kXenPageShift) > UINT32_MAX)
        return fail("grant buffer {:#x}+{:#x} overflows", addr, len);
    const uint64_t at = used_;
    auto& list = device_written ? back_ : in_;
    // One segment per guest page touched: a segment may not cross a page on the grant side.
    for (uint64_t done = 0; done < len;) {
        const uint64_t g = base + done;
        const uint64_t in_page = g & (kXenPageSize - 1);
        const uint64_t n = std::min(len - done, kXenPageSize - in_page);
        xen::GrantCopySegment s{};
        const xen::GrantCopySegment::Grant grant{static_cast<uint32_t>(g >> kXenPageShift),
                                                 static_cast<uint16_t>(in_page), static_cast<uint16_t>(domid)};
        xen::GrantCopySegment::Ptr local{};
        local.virt = reinterpret_cast<void*>(static_cast<uintptr_t>(at + done));  // an offset until place()
        if (device_written) {
            s.source = local;
            s.dest.grant = grant;
            s.flags = xen::kCopyDestGrant;
        } else {
            s.source.grant = grant;
            s.dest = local;
            s.flags = xen::kCopySourceGrant;
        }
        s.len = static_cast<uint16_t>(n);
        list.push_back(s);
        done += n;
    }
    used_ = round_up(at + len, kPieceAlign);
    return at;
}

Result<uint8_t*> GrantCopies::place() {
    if (bounce_.size() < used_) {
        const uint64_t size = round_up(used_, kBounceGrain);
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return fail_errno("bounce buffer of {} bytes", size);
        bounce_ = Mapping(p, size);
    }
    uint8_t* b = bounce_.data();
    for (auto& s : in_) s.dest.virt = b + reinterpret_cast<uintptr_t>(s.dest.virt);
    for (auto& s : back_) s.source.virt = b + reinterpret_cast<uintptr_t>(s.source.virt);
    return b;
}

Result<> GrantCopies::copy_in(xen::GrantTable& grants, MapStats& stats) {
    return run(grants, stats, in_, "from the guest");
}

Result<> GrantCopies::copy_back(xen::GrantTable& grants, MapStats& stats) {
    auto r = run(grants, stats, back_, "to the guest");
    back_.clear();  // once: a retry would copy stale bytes over what the error answer wrote
    return r;
}

}  // namespace xenvhost::memory
