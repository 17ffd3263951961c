#pragma once
// A foreign region mapped whole when the table arrives (--foreign-map whole):
// one privcmd batch for all its frames, held until the region goes, so rings
// and request buffers in it need no map call of their own. Only for regions
// the front-end lets us map in advance (no "no advance map" flag).

#include "base/error.hpp"
#include "memory/map_stats.hpp"
#include "memory/region.hpp"
#include "xen/foreign_memory.hpp"

#include <memory>

namespace xenvhost::memory {

// The largest region mapped whole. The front-end chooses region sizes: a
// larger one (or a lie) would cost a frame list of its size in one
// allocation and that much of our address space, so it is mapped per
// request instead.
inline constexpr uint64_t kMaxWholeRegionBytes = uint64_t{16} << 30;

// Whether `desc` may be mapped whole: foreign, mappable in advance, made of
// whole 4 KiB Xen frames, and at most kMaxWholeRegionBytes.
bool can_map_foreign_whole(const RegionDesc& desc);

// Maps every frame of `desc` with one call; the map and its unmap are counted
// in `stats` like a request's.
Result<std::shared_ptr<const Region>> map_foreign_whole(const RegionDesc& desc,
                                                        const std::shared_ptr<xen::ForeignMemory>& foreign,
                                                        const std::shared_ptr<MapStats>& stats);

}  // namespace xenvhost::memory
