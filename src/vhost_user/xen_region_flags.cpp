#include "vhost_user/xen_region_flags.hpp"

#include "vhost_user/messages.hpp"

namespace xenvhost::vhost_user {

Result<XenRegionFlags> parse_xen_flags(uint32_t flags) {
    using namespace xen_mmap_flag;
    constexpr uint32_t kKnown = kForeign | kGrant | kNoAdvanceMapDeployed | kNoAdvanceMapSpec;
    if (flags & ~kKnown) return fail("unknown Xen mmap flag bits {:#x}", flags & ~kKnown);
    if ((flags & kForeign) && (flags & kGrant))
        return fail("Xen mmap flags {:#x} ask for foreign and grant at once", flags);
    XenRegionFlags f;
    f.kind = (flags & kForeign) ? memory::XenRegionKind::kForeign
             : (flags & kGrant) ? memory::XenRegionKind::kGrant
                                : memory::XenRegionKind::kPlain;
    f.no_advance_map = flags & (kNoAdvanceMapDeployed | kNoAdvanceMapSpec);
    if (f.kind == memory::XenRegionKind::kPlain && f.no_advance_map)
        return fail("Xen mmap flags {:#x}: no-advance-map on a plain region", flags);
    return f;
}

}  // namespace xenvhost::vhost_user
