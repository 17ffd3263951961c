#include "frontend/guest_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace xenvhost::frontend {

Result<UniqueFd> make_memfd(const char* name, uint64_t size) {
    UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
    if (!fd) return fail_errno("memfd_create");
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return fail_errno("ftruncate memfd");
    return fd;
}

Result<Region> GuestMemory::make_region(RegionLayout layout, int fd, uint64_t offset) {
    if (layout.size == 0) return fail("region at {:#x} has size 0", layout.gpa);
    void* p = ::mmap(nullptr, layout.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                     static_cast<off_t>(offset));
    if (p == MAP_FAILED) return fail_errno("mmap guest region {:#x}+{:#x}", layout.gpa, layout.size);
    Region r;
    r.gpa = layout.gpa;
    r.size = layout.size;
    r.mmap_offset = offset;
    r.mapping = Mapping(p, layout.size);
    UniqueFd own(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!own) return fail_errno("dup memfd");
    r.fd = std::move(own);
    return r;
}

static Result<void> check_layout(std::span<const RegionLayout> layout) {
    std::vector<RegionLayout> sorted(layout.begin(), layout.end());
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.gpa < b.gpa; });
    for (size_t i = 0; i < sorted.size(); ++i) {
        if (sorted[i].size == 0 || sorted[i].size % 4096 || sorted[i].gpa % 4096)
            return fail("region {:#x}+{:#x} is not page-sized", sorted[i].gpa, sorted[i].size);
        if (i && sorted[i - 1].gpa + sorted[i - 1].size > sorted[i].gpa)
            return fail("regions overlap at {:#x}", sorted[i].gpa);
    }
    return {};
}

Result<GuestMemory> GuestMemory::create(std::span<const RegionLayout> layout, Backing backing) {
    if (layout.empty()) return fail("guest memory needs at least one region");
    if (auto c = check_layout(layout); !c) return std::unexpected(c.error());
    GuestMemory mem;
    if (backing == Backing::kSharedMemfd) {
        // Regions sit at increasing offsets with one page left unused between
        // them, so mmap_offset is non-zero and differs from the gpa.
        uint64_t total = 0;
        for (const auto& l : layout) total += l.size + 4096;
        auto fd = make_memfd("guest-ram", total);
        if (!fd) return std::unexpected(fd.error());
        uint64_t offset = 4096;
        for (const auto& l : layout) {
            auto r = make_region(l, fd->get(), offset);
            if (!r) return std::unexpected(r.error());
            mem.regions_.push_back(std::move(*r));
            offset += l.size + 4096;
        }
        return mem;
    }
    for (const auto& l : layout) {
        auto fd = make_memfd("guest-ram", l.size);
        if (!fd) return std::unexpected(fd.error());
        auto r = make_region(l, fd->get(), 0);
        if (!r) return std::unexpected(r.error());
        mem.regions_.push_back(std::move(*r));
    }
    return mem;
}

Result<GuestMemory> GuestMemory::create_flat(uint64_t size, uint64_t gpa) {
    RegionLayout l{gpa, size};
    return create(std::span<const RegionLayout>(&l, 1));
}

Result<size_t> GuestMemory::add_region(RegionLayout layout) {
    std::vector<RegionLayout> all;
    for (const auto& r : regions_) all.push_back({r.gpa, r.size});
    all.push_back(layout);
    if (auto c = check_layout(all); !c) return std::unexpected(c.error());
    auto fd = make_memfd("guest-ram-hotplug", layout.size);
    if (!fd) return std::unexpected(fd.error());
    auto r = make_region(layout, fd->get(), 0);
    if (!r) return std::unexpected(r.error());
    regions_.push_back(std::move(*r));
    return regions_.size() - 1;
}

Result<Region> GuestMemory::remove_region(size_t index) {
    if (index >= regions_.size()) return fail("no region {}", index);
    Region r = std::move(regions_[index]);
    regions_.erase(regions_.begin() + static_cast<ptrdiff_t>(index));
    return r;
}

Result<uint64_t> GuestMemory::alloc(uint64_t size, uint64_t align,
                                    std::optional<size_t> region_index) {
    if (align == 0 || (align & (align - 1))) return fail("alignment {} is not a power of 2", align);
    for (size_t i = 0; i < regions_.size(); ++i) {
        if (region_index && *region_index != i) continue;
        Region& r = regions_[i];
        // Align the guest-physical address, which is what the back-end checks.
        uint64_t start = ((r.gpa + r.next_free + align - 1) & ~(align - 1)) - r.gpa;
        if (start + size <= r.size) {
            r.next_free = start + size;
            return r.gpa + start;
        }
    }
    return fail("guest memory exhausted allocating {} bytes", size);
}

Result<uint64_t> GuestMemory::alloc_straddling(size_t index, uint64_t size, uint64_t tail) {
    if (index + 1 >= regions_.size()) return fail("no region after region {}", index);
    Region& a = regions_[index];
    Region& b = regions_[index + 1];
    if (a.end() != b.gpa) return fail("regions {} and {} are not adjacent", index, index + 1);
    if (tail == 0 || tail >= size) return fail("a straddling buffer needs bytes on both sides");
    uint64_t head = size - tail;
    if (a.next_free + head > a.size || b.next_free != 0 || tail > b.size)
        return fail("no room for a buffer across regions {} and {}", index, index + 1);
    a.next_free = a.size;
    b.next_free = tail;
    return a.end() - head;
}

const Region* GuestMemory::find(uint64_t gpa) const {
    for (const auto& r : regions_)
        if (gpa >= r.gpa && gpa - r.gpa < r.size) return &r;
    return nullptr;
}

uint8_t* GuestMemory::host(uint64_t gpa, uint64_t len) const {
    const Region* r = find(gpa);
    if (!r || len > r->size - (gpa - r->gpa)) return nullptr;
    return r->mapping.data() + (gpa - r->gpa);
}

std::optional<uint64_t> GuestMemory::user_addr(uint64_t gpa) const {
    const Region* r = find(gpa);
    if (!r) return std::nullopt;
    return r->user_addr() + (gpa - r->gpa);
}

Result<void> GuestMemory::write(uint64_t gpa, std::span<const uint8_t> data) const {
    size_t done = 0;
    while (done < data.size()) {
        const Region* r = find(gpa + done);
        if (!r) return fail("guest address {:#x} is not in any region", gpa + done);
        uint64_t off = gpa + done - r->gpa;
        size_t n = std::min<uint64_t>(r->size - off, data.size() - done);
        std::memcpy(r->mapping.data() + off, data.data() + done, n);
        done += n;
    }
    return {};
}

Result<void> GuestMemory::read(uint64_t gpa, std::span<uint8_t> out) const {
    size_t done = 0;
    while (done < out.size()) {
        const Region* r = find(gpa + done);
        if (!r) return fail("guest address {:#x} is not in any region", gpa + done);
        uint64_t off = gpa + done - r->gpa;
        size_t n = std::min<uint64_t>(r->size - off, out.size() - done);
        std::memcpy(out.data() + done, r->mapping.data() + off, n);
        done += n;
    }
    return {};
}

Result<void> GuestMemory::fill(uint64_t gpa, uint64_t len, uint8_t value) const {
    uint64_t done = 0;
    while (done < len) {
        const Region* r = find(gpa + done);
        if (!r) return fail("guest address {:#x} is not in any region", gpa + done);
        uint64_t off = gpa + done - r->gpa;
        uint64_t n = std::min<uint64_t>(r->size - off, len - done);
        std::memset(r->mapping.data() + off, value, n);
        done += n;
    }
    return {};
}

}  // namespace xenvhost::frontend
