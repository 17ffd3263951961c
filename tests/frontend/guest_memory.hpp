#pragma once
// Guest memory as a QEMU-like front-end owns it: memfd-backed regions mapped
// shared into this process. A region's user address is this process's own
// mapping address, as QEMU sends it. Regions may be separate memfds or
// slices of one memfd at different offsets, and may leave gaps between their
// guest addresses. A bump allocator hands out ring and buffer space.

#include "base/error.hpp"
#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "frontend/addressing.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace xenvhost::frontend {

struct RegionLayout {
    uint64_t gpa = 0;
    uint64_t size = 0;
};

enum class Backing {
    kSeparateMemfds,  // one memfd per region, mmap_offset 0
    kSharedMemfd,     // one memfd, regions at increasing offsets (mmap_offset != 0)
};

struct Region {
    uint64_t gpa = 0;
    uint64_t size = 0;
    uint64_t mmap_offset = 0;
    UniqueFd fd;      // the fd sent to the back-end
    Mapping mapping;  // this process's view; user_addr = mapping.data()
    std::optional<XenRegionAttrs> xen;
    uint64_t next_free = 0;  // bump allocator, offset within the region

    uint64_t user_addr() const { return reinterpret_cast<uint64_t>(mapping.data()); }
    uint64_t end() const { return gpa + size; }
    vhost_user::MemoryRegion descriptor() const {
        return {gpa, size, user_addr(), mmap_offset};
    }
};

class GuestMemory {
public:
    GuestMemory() = default;
    GuestMemory(GuestMemory&&) = default;
    GuestMemory& operator=(GuestMemory&&) = default;

    static Result<GuestMemory> create(std::span<const RegionLayout> layout,
                                      Backing backing = Backing::kSeparateMemfds);
    // One region of `size` bytes at `gpa`.
    static Result<GuestMemory> create_flat(uint64_t size, uint64_t gpa = 0);

    // Appends a region backed by a new memfd (memory hotplug, ADD_MEM_REG).
    Result<size_t> add_region(RegionLayout layout);
    // Removes a region and returns it (its mapping and fd stay alive with
    // the caller; a back-end may still be using them).
    Result<Region> remove_region(size_t index);

    std::span<const Region> regions() const { return regions_; }
    Region& region(size_t index) { return regions_.at(index); }

    // Allocates `size` bytes aligned to `align` (a power of two), in region
    // `region_index` or in the first region with room.
    Result<uint64_t> alloc(uint64_t size, uint64_t align = 64,
                           std::optional<size_t> region_index = {});
    // Allocates a buffer that starts `size - tail` bytes before the end of
    // region `index` and continues `tail` bytes into the next one; the two
    // regions must be adjacent in guest-physical space.
    Result<uint64_t> alloc_straddling(size_t index, uint64_t size, uint64_t tail);

    // Host pointer for [gpa, gpa+len) if it lies inside one region, else null.
    uint8_t* host(uint64_t gpa, uint64_t len) const;
    // User address (this process's VA) of a guest-physical address.
    std::optional<uint64_t> user_addr(uint64_t gpa) const;
    // Copies across region boundaries; fails on a gap.
    Result<void> write(uint64_t gpa, std::span<const uint8_t> data) const;
    Result<void> read(uint64_t gpa, std::span<uint8_t> out) const;
    Result<void> fill(uint64_t gpa, uint64_t len, uint8_t value) const;

private:
    static Result<Region> make_region(RegionLayout layout, int fd, uint64_t offset);
    const Region* find(uint64_t gpa) const;

    std::vector<Region> regions_;
};

// A memfd of `size` bytes (close-on-exec).
Result<UniqueFd> make_memfd(const char* name, uint64_t size);

}  // namespace xenvhost::frontend
