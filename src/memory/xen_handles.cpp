#include "memory/xen_handles.hpp"

#include "base/log.hpp"
#include "xen/device_fd.hpp"
#include "xen/privilege.hpp"

#include <cerrno>

namespace xenvhost::memory {

XenHandles open_xen_handles(std::optional<uint32_t> domid) {
    // Before any drop of privileges, like the handles themselves.
    xen::remember_xen_devices();
    XenHandles h;
    if (auto g = xen::GrantTable::open()) {
        h.grants = std::move(*g);
    } else {
        log::warn("grant mappings unavailable: {}", g.error().message);
    }
    if (auto f = xen::ForeignMemory::open()) {
        if (domid) {
            if (auto r = (*f)->restrict_to(*domid); !r) {
                // An unrestricted handle could map any domain: refuse to use it.
                // EINVAL: the kernel restricted it to another domain already
                // (a domU's privcmd, since the fix for XSA-482).
                if (r.error().err == EINVAL) h.foreign_refused = xen::privcmd_restricted(*domid);
                log::warn("foreign mappings unavailable: {}{}", r.error().message,
                          h.foreign_refused.empty() ? "" : "; " + h.foreign_refused);
                return h;
            }
        }
        h.foreign = std::move(*f);
    } else {
        log::warn("foreign mappings unavailable: {}", f.error().message);
    }
    return h;
}

}  // namespace xenvhost::memory
