#include "memory/region.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace xenvhost::memory {

Result<> validate_region(const RegionDesc& d) {
    if (d.size == 0) return fail_as(ErrorKind::kProtocol, "region at gpa {:#x} has size 0", d.gpa);
    if (d.gpa + d.size < d.gpa) return fail_as(ErrorKind::kProtocol, "region gpa {:#x} + size {:#x} overflows", d.gpa, d.size);
    if (d.uaddr + d.size < d.uaddr)
        return fail_as(ErrorKind::kProtocol, "region user address {:#x} + size {:#x} overflows", d.uaddr, d.size);
    if (d.mmap_offset + d.size < d.mmap_offset)
        return fail_as(ErrorKind::kProtocol, "region mmap offset {:#x} + size {:#x} overflows", d.mmap_offset, d.size);
    return {};
}

Result<std::shared_ptr<const Region>> Region::map_plain(const RegionDesc& d, int fd) {
    if (auto ok = validate_region(d); !ok) return std::unexpected(ok.error());
    struct stat st{};
    if (::fstat(fd, &st) < 0) return fail_errno("fstat of region fd");
    // Regular files and memfds have a size; touching past it raises SIGBUS.
    if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) < d.mmap_offset + d.size)
        return fail_as(ErrorKind::kProtocol, "region fd is {} bytes, smaller than offset {:#x} + size {:#x}", st.st_size,
                    d.mmap_offset, d.size);
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t map_offset = d.mmap_offset & ~(page - 1);
    const uint64_t lead = d.mmap_offset - map_offset;
    const uint64_t map_len = d.size + lead;
    if (map_len < d.size) return fail_as(ErrorKind::kProtocol, "region size {:#x} too large", d.size);
    void* addr = ::mmap(nullptr, map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd,
                        static_cast<off_t>(map_offset));
    if (addr == MAP_FAILED) return fail_errno("mmap of region gpa {:#x} size {:#x}", d.gpa, d.size);
    Mapping mapping(addr, map_len);
    uint8_t* host = mapping.data() + lead;
    return std::make_shared<const Region>(d, std::move(mapping), host);
}

std::shared_ptr<const Region> Region::unmapped(const RegionDesc& d) {
    return std::make_shared<const Region>(d, Mapping(), nullptr);
}

std::shared_ptr<const Region> Region::mapped_whole(const RegionDesc& d, uint8_t* host,
                                                   std::shared_ptr<const void> owner) {
    return std::make_shared<const Region>(d, Mapping(), host, std::move(owner));
}

}  // namespace xenvhost::memory
