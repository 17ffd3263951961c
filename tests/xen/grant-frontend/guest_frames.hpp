#pragma once
// A PV guest's pseudo-physical frame numbers translated to the machine frames
// that privcmd maps for it (for a PV guest, a foreign mapping names machine
// frames), through the guest's p2m table as libxenguest maps it.

#include "base/error.hpp"

#include <cstdint>
#include <vector>

namespace xenvhost::grantfe {

Result<std::vector<uint64_t>> machine_frames(uint32_t domid, const std::vector<uint64_t>& pfns);

}  // namespace xenvhost::grantfe
