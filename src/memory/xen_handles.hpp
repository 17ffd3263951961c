#pragma once
// A process's own gntdev and privcmd handles, opened once at start when it
// serves a Xen guest (before any privilege is dropped), shared by every
// region and view that maps that guest's memory.

#include "xen/foreign_memory.hpp"
#include "xen/grant_table.hpp"

#include <cstdint>
#include <memory>
#include <optional>

namespace xenvhost::memory {

struct XenHandles {
    std::shared_ptr<xen::GrantTable> grants;     // null where gntdev is unavailable
    std::shared_ptr<xen::ForeignMemory> foreign;  // null where privcmd is unavailable
};

// Opens what the host offers; a missing device is logged and left null, so
// regions needing it are refused with a clear reason. The privcmd handle is
// restricted to `domid` when one is given.
XenHandles open_xen_handles(std::optional<uint32_t> domid);

}  // namespace xenvhost::memory
