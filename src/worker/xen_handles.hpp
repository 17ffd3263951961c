#pragma once
// The worker's own gntdev and privcmd handles, opened once at start when it
// serves a Xen guest (before any privilege is dropped).

#include "memory/xen_memory.hpp"

#include <optional>

namespace xenvhost::worker {

// Opens what the host offers; a missing device is logged and left null, so
// regions needing it are refused with a clear reason. The privcmd handle is
// restricted to `domid` when one is given.
memory::XenHandles open_xen_handles(std::optional<uint32_t> domid);

}  // namespace xenvhost::worker
