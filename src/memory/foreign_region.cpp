#include "memory/foreign_region.hpp"

#include <vector>

namespace xenvhost::memory {

namespace {

// Keeps a whole-region mapping and counts its unmap.
struct WholeMapping {
    xen::ForeignMapping mapping;
    std::shared_ptr<MapStats> stats;
    ~WholeMapping() {
        if (mapping.data()) stats->unmap_calls.fetch_add(1, std::memory_order_relaxed);
    }
};

}  // namespace

bool can_map_foreign_whole(const RegionDesc& d) {
    return d.kind == XenRegionKind::kForeign && !d.no_advance_map && d.gpa % kXenPageSize == 0 &&
           d.size % kXenPageSize == 0 && d.size <= kMaxWholeRegionBytes;
}

Result<std::shared_ptr<const Region>> map_foreign_whole(const RegionDesc& d,
                                                        const std::shared_ptr<xen::ForeignMemory>& foreign,
                                                        const std::shared_ptr<MapStats>& stats) {
    if (!can_map_foreign_whole(d)) return fail("region gpa {:#x} size {:#x} cannot be mapped whole", d.gpa, d.size);
    std::vector<uint64_t> frames(d.size / kXenPageSize);
    for (size_t i = 0; i < frames.size(); ++i) frames[i] = d.gpa / kXenPageSize + i;
    stats->map_calls.fetch_add(1, std::memory_order_relaxed);
    std::vector<int> errs(frames.size());
    auto m = foreign->map(d.domid, frames, true, errs);
    if (!m) {
        stats->map_failures.fetch_add(1, std::memory_order_relaxed);
        return fail("mapping foreign region gpa {:#x} ({} frames of domain {}) whole: {}", d.gpa, frames.size(),
                    d.domid, m.error().message);
    }
    stats->pages_mapped.fetch_add(frames.size(), std::memory_order_relaxed);
    uint8_t* host = m->data();
    auto owner = std::make_shared<WholeMapping>();
    owner->mapping = std::move(*m);
    owner->stats = stats;
    return Region::mapped_whole(d, host, std::move(owner));
}

}  // namespace xenvhost::memory
