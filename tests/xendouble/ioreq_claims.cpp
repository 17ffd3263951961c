#include "xendouble/ioreq_claims.hpp"

#include "xendouble/ioreq_state.hpp"

#include <cerrno>

namespace xenvhost::xendouble {

namespace {

// Slots are published field by field with release stores; a reader wanting
// a consistent table takes the shared flock the writers' exclusive one excludes.
void put(DmRange& r, RangeKind kind, uint64_t start, uint64_t end) {
    IoreqState::publish(r.start, start);
    IoreqState::publish(r.end, end);
    IoreqState::publish(r.kind, static_cast<uint32_t>(kind));
}

DmRange* free_slot(DmState& dm) {
    for (auto& r : dm.ranges)
        if (r.kind == kRangeFree) return &r;
    return nullptr;
}

// Merges `r` with neighbours of its kind that touch it, as a rangeset does,
// so that a later release of a span crossing two claims finds one range.
void merge_neighbours(DmState& dm, DmRange& r) {
    for (bool merged = true; merged;) {
        merged = false;
        for (auto& o : dm.ranges) {
            if (&o == &r || o.kind != r.kind) continue;
            if (o.end != UINT64_MAX && o.end + 1 == r.start) {
                put(r, static_cast<RangeKind>(r.kind), o.start, r.end);
            } else if (r.end != UINT64_MAX && r.end + 1 == o.start) {
                put(r, static_cast<RangeKind>(r.kind), r.start, o.end);
            } else {
                continue;
            }
            IoreqState::publish(o.kind, static_cast<uint32_t>(kRangeFree));
            merged = true;
        }
    }
}

}  // namespace

int claim_range(DmState& dm, RangeKind kind, uint64_t start, uint64_t end) {
    if (start > end) return EINVAL;
    for (const auto& r : dm.ranges)
        if (r.kind == kind && start <= r.end && r.start <= end) return EEXIST;
    DmRange* slot = free_slot(dm);
    if (!slot) return ENOMEM;
    put(*slot, kind, start, end);
    merge_neighbours(dm, *slot);
    return 0;
}

int release_range(DmState& dm, RangeKind kind, uint64_t start, uint64_t end) {
    if (start > end) return EINVAL;
    for (auto& r : dm.ranges) {
        if (r.kind != kind || start < r.start || end > r.end) continue;
        const uint64_t lo = r.start, hi = r.end;
        const bool keep_low = start > lo, keep_high = end < hi;
        DmRange* high = nullptr;
        if (keep_low && keep_high && !(high = free_slot(dm))) return ENOMEM;
        if (keep_low)
            put(r, kind, lo, start - 1);
        else if (keep_high)
            put(r, kind, end + 1, hi);
        else
            IoreqState::publish(r.kind, static_cast<uint32_t>(kRangeFree));
        if (high) put(*high, kind, end + 1, hi);
        return 0;
    }
    return ENOENT;
}

int claim_pcidev(DmState& dm, uint32_t sbdf) {
    uint32_t* free = nullptr;
    for (auto& p : dm.pcidevs) {
        if (p == sbdf + 1) return EEXIST;
        if (!p && !free) free = &p;
    }
    if (!free) return ENOMEM;
    IoreqState::publish(*free, sbdf + 1);
    return 0;
}

int release_pcidev(DmState& dm, uint32_t sbdf) {
    for (auto& p : dm.pcidevs) {
        if (p != sbdf + 1) continue;
        IoreqState::publish(p, 0u);
        return 0;
    }
    return ENOENT;
}

void release_all(DmState& dm) {
    for (auto& r : dm.ranges) IoreqState::publish(r.kind, static_cast<uint32_t>(kRangeFree));
    for (auto& p : dm.pcidevs) IoreqState::publish(p, 0u);
}

}  // namespace xenvhost::xendouble
