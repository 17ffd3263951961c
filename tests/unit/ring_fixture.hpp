#pragma once
// Guest memory of one plain region, with helpers to lay out rings and
// descriptor tables in it the way a driver would.

#include "memory/plain_memory.hpp"
#include "virtio/ring_layout.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <memory>

namespace xenvhost::testing {

class GuestRam {
public:
    explicit GuestRam(uint64_t size = 1 << 20) : size_(size) {
        int fd = ::memfd_create("guest", MFD_CLOEXEC);
        (void)!::ftruncate(fd, static_cast<off_t>(size));
        auto region = memory::Region::map_plain({0, size, 0x10000000, 0}, fd);
        ::close(fd);
        region_ = *region;
        mem_ = std::make_shared<memory::PlainMemory>(*memory::RegionTable::build({region_}));
    }
    uint8_t* at(uint64_t gpa) { return region_->host() + gpa; }
    template <typename T>
    T* as(uint64_t gpa) { return reinterpret_cast<T*>(at(gpa)); }
    const memory::PlainMemory& mem() const { return *mem_; }
    std::shared_ptr<const memory::GuestMemory> shared() const { return mem_; }

    void set_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
        virtio::Desc d{addr, len, flags, next};
        std::memcpy(at(table + 16ull * i), &d, sizeof d);
    }

private:
    uint64_t size_;
    std::shared_ptr<const memory::Region> region_;
    std::shared_ptr<memory::PlainMemory> mem_;
};

}  // namespace xenvhost::testing
