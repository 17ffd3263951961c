#include "frontend/xen_guest_memory.hpp"

#include <algorithm>

namespace xenvhost::frontend {

namespace flag = vhost_user::xen_mmap_flag;

Result<GuestMemory> make_xen_guest_memory(const XenDoubleFiles& files, std::span<const RegionLayout> layout) {
    auto mem = GuestMemory::create(layout);
    if (!mem) return std::unexpected(mem.error());
    // The regions GuestMemory made are replaced by views of the double's
    // memory file at the guest-physical address, so what the worker maps
    // through the double is what the driver reads and writes.
    for (size_t i = 0; i < mem->regions().size(); ++i) {
        Region& r = mem->region(i);
        auto view = files.map_memory(r.gpa, r.size);
        if (!view) return std::unexpected(view.error());
        r.mapping = std::move(*view);
        r.mmap_offset = 0;
        r.fd.reset();
    }
    return mem;
}

std::vector<XenRingArea> ring_areas(uint64_t desc, uint64_t avail, uint64_t used, uint16_t size) {
    return {{desc, 16ull * size}, {avail, 6 + 2ull * size}, {used, 6 + 8ull * size}};
}

std::vector<RegionMessage> grant_region_messages(const GuestMemory& mem, std::span<const XenRingArea> rings,
                                                 uint64_t guest_size, uint32_t domid, uint32_t no_advance_flag,
                                                 int gntdev_fd) {
    std::vector<XenRingArea> sorted(rings.begin(), rings.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.gpa < b.gpa; });
    std::vector<RegionMessage> out;
    auto add = [&](uint64_t gpa, uint64_t len, bool advance) {
        RegionMessage m;
        m.region.guest_phys_addr = kGrantAddressFlag | gpa;
        m.region.memory_size = len;
        m.region.user_addr = advance ? mem.user_addr(gpa).value_or(0) : 0;
        m.region.mmap_offset = 0;
        m.fd = gntdev_fd;
        m.xen = XenRegionAttrs{flag::kGrant | (advance ? 0 : no_advance_flag), domid};
        out.push_back(m);
    };
    uint64_t cursor = 0;
    for (const auto& r : sorted) {
        if (r.gpa > cursor) add(cursor, r.gpa - cursor, false);
        add(r.gpa, r.len, true);
        cursor = r.gpa + r.len;
    }
    if (cursor < guest_size) add(cursor, guest_size - cursor, false);
    return out;
}

std::vector<RegionMessage> foreign_region_messages(const GuestMemory& mem, uint32_t domid, int privcmd_fd) {
    std::vector<RegionMessage> out;
    for (const auto& r : mem.regions()) {
        RegionMessage m;
        m.region = {r.gpa, r.size, r.user_addr(), 0};
        m.fd = privcmd_fd;
        m.xen = XenRegionAttrs{flag::kForeign, domid};
        out.push_back(m);
    }
    return out;
}

}  // namespace xenvhost::frontend
