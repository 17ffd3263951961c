#include "memory/xen_handles.hpp"

#include "base/log.hpp"
#include "xen/device_fd.hpp"

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
                log::warn("foreign mappings unavailable: {}", r.error().message);
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
