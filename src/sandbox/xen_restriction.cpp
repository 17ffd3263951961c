#include "sandbox/xen_restriction.hpp"

// The header has no extern "C" of its own.
extern "C" {
#include <xentoolcore.h>
}

namespace xenvhost::sandbox {

Result<> restrict_xen_handles(uint32_t domid) {
    if (::xentoolcore_restrict_all(static_cast<domid_t>(domid)) < 0)
        return fail_errno("restrict the Xen handles to domain {}", domid);
    return {};
}

}  // namespace xenvhost::sandbox
