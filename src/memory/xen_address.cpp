#include "memory/xen_address.hpp"

namespace xenvhost::memory {

Result<PageSpan> gather_pages(XenRegionKind kind, uint64_t addr, uint64_t len, std::vector<uint64_t>& frames) {
    if (len == 0) return fail("empty buffer");
    if (addr + len < addr) return fail("buffer {:#x}+{:#x} overflows", addr, len);
    uint64_t base = addr;
    if (kind == XenRegionKind::kGrant) {
        if (!(addr & kGrantAddressFlag)) return fail("address {:#x} is not a grant address", addr);
        base = addr & ~kGrantAddressFlag;
        // The end must stay inside the grant address space too.
        if (base + len > kGrantAddressFlag) return fail("grant buffer {:#x}+{:#x} overflows", addr, len);
    }
    const uint64_t first = base >> kXenPageShift;
    const uint64_t last = (base + len - 1) >> kXenPageShift;
    // Grant refs are 32-bit.
    if (kind == XenRegionKind::kGrant && last > UINT32_MAX) return fail("grant ref {:#x} out of range", last);
    PageSpan span{frames.size(), static_cast<uint32_t>(base & (kXenPageSize - 1))};
    for (uint64_t f = first; f <= last; ++f) frames.push_back(f);
    return span;
}

}  // namespace xenvhost::memory
