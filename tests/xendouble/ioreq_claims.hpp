#pragma once
// The ioreq server's claims as Xen's rangesets keep them: I/O port and MMIO
// ranges (inclusive ends, adjacent claims merged) and PCI functions (SBDFs).
// Callers hold IoreqState::lock(). Each returns 0 or the errno Xen gives.

#include "xendouble/ioreq_layout.hpp"

#include <cstdint>

namespace xenvhost::xendouble {

// EINVAL if start > end, EEXIST if it overlaps a claim of the same kind,
// ENOMEM when the table is full (a rangeset at its limit).
int claim_range(DmState& dm, RangeKind kind, uint64_t start, uint64_t end);
// ENOENT unless [start, end] lies inside one claim; the rest stays claimed.
int release_range(DmState& dm, RangeKind kind, uint64_t start, uint64_t end);
int claim_pcidev(DmState& dm, uint32_t sbdf);
int release_pcidev(DmState& dm, uint32_t sbdf);
// What destroying the server releases.
void release_all(DmState& dm);

}  // namespace xenvhost::xendouble
