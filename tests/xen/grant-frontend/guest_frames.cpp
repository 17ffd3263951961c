#include "guest_frames.hpp"

#include "xen_libs.hpp"

extern "C" {
#include <xenguest.h>
}

namespace xenvhost::grantfe {

Result<std::vector<uint64_t>> machine_frames(uint32_t domid, const std::vector<uint64_t>& pfns) {
    std::unique_ptr<xc_interface, Closer<xc_interface_close>> xch(xc_interface_open(nullptr, nullptr, 0));
    if (!xch) return fail_errno("xc_interface_open");
    xc_domain_meminfo info{};
    if (xc_map_domain_meminfo(xch.get(), domid, &info) != 0)
        return fail_errno("xc_map_domain_meminfo(domain {}) (a PV guest's p2m table)", domid);
    std::vector<uint64_t> out;
    out.reserve(pfns.size());
    Result<std::vector<uint64_t>> result = fail("no frames");
    for (uint64_t pfn : pfns) {
        if (pfn >= info.p2m_size) {
            result = fail("pfn {:#x} is past domain {}'s p2m table ({} entries)", pfn, domid, info.p2m_size);
            break;
        }
        // The table holds guest-width entries; a 64-bit guest's are xen_pfn_t.
        const uint64_t mfn = info.guest_width == 8 ? info.p2m_table[pfn]
                                                   : reinterpret_cast<const uint32_t*>(info.p2m_table)[pfn];
        out.push_back(mfn);
    }
    if (out.size() == pfns.size()) result = std::move(out);
    xc_unmap_domain_meminfo(xch.get(), &info);
    return result;
}

}  // namespace xenvhost::grantfe
