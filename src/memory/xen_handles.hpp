#pragma once
// A process's own gntdev and privcmd handles, opened once at start when it
// serves a Xen guest (before any privilege is dropped), shared by every
// region and view that maps that guest's memory.

#include "xen/foreign_memory.hpp"
#include "xen/grant_table.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace xenvhost::memory {

struct XenHandles {
    std::shared_ptr<xen::GrantTable> grants;     // null where gntdev is unavailable
    std::shared_ptr<xen::ForeignMemory> foreign;  // null where privcmd is unavailable
    // Why `foreign` is null when this domain's kernel keeps privcmd from the
    // guest (a xen/privilege.hpp refusal, which the daemon turns into the
    // device's error key); empty otherwise.
    std::string foreign_refused = {};
    std::string foreign_unavailable() const {
        return foreign_refused.empty() ? "foreign mapping is not available on this host" : foreign_refused;
    }
};

// Opens what the host offers; a missing device is logged and left null, so
// regions needing it are refused with a clear reason. The privcmd handle is
// restricted to `domid` when one is given.
XenHandles open_xen_handles(std::optional<uint32_t> domid);

}  // namespace xenvhost::memory
