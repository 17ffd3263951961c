#pragma once
// The guest memory map of one connection: regions sorted by guest address,
// looked up by binary search, overlaps rejected. A table is immutable; changes
// (SET_MEM_TABLE, ADD/REM_MEM_REG) build a new table that is swapped in
// atomically, so queue threads never see a half-updated map.

#include "base/error.hpp"
#include "memory/region.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace xenvhost::memory {

// What GET_MAX_MEM_SLOTS answers; QEMU caps it at 512.
inline constexpr size_t kMaxRegions = 509;

class RegionTable {
public:
    RegionTable() = default;

    // A table of `regions`; fails on overlap (in guest or user address space) or too many.
    static Result<RegionTable> build(std::vector<std::shared_ptr<const Region>> regions);
    // This table plus one region.
    Result<RegionTable> with(std::shared_ptr<const Region> region) const;
    // This table minus the region matching gpa, uaddr and size (mmap_offset is ignored).
    Result<RegionTable> without(uint64_t gpa, uint64_t uaddr, uint64_t size) const;

    // The region containing guest address `gpa`, or nullptr.
    const Region* find(uint64_t gpa) const;
    // The region containing front-end user address `uaddr`, or nullptr.
    const Region* find_uaddr(uint64_t uaddr) const;
    // Guest address of a front-end user address (ring addresses arrive as those).
    bool uaddr_to_gpa(uint64_t uaddr, uint64_t& gpa) const;

    // Host bytes for [gpa, gpa+len): the part inside one mapped region. Shorter
    // than len if the region ends first; empty if gpa is not in mapped memory.
    std::span<uint8_t> translate(uint64_t gpa, uint64_t len) const;

    size_t size() const { return regions_.size(); }
    bool empty() const { return regions_.empty(); }
    const std::vector<std::shared_ptr<const Region>>& regions() const { return regions_; }

private:
    explicit RegionTable(std::vector<std::shared_ptr<const Region>> regions)
        : regions_(std::move(regions)) {}
    std::vector<std::shared_ptr<const Region>> regions_;  // sorted by gpa
};

}  // namespace xenvhost::memory
