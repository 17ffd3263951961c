#pragma once
// Every Xen handle the process holds (privcmd, foreign memory, device model,
// event channels, xenstore) restricted to its guest, so a compromised
// process cannot reach another domain with the handles it keeps.

#include "base/error.hpp"

#include <cstdint>

namespace xenvhost::sandbox {

// xentoolcore_restrict_all: applies to every handle opened through the Xen
// libraries so far; handles opened later are not covered (the syscall filter
// and the empty root keep the process from opening more).
Result<> restrict_xen_handles(uint32_t domid);

}  // namespace xenvhost::sandbox
