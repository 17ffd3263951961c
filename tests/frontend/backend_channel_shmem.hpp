#pragma once
// The front-end's VIRTIO shared memory regions, as the back-end reports them
// in GET_SHMEM_CONFIG: each a PROT_NONE reservation of its size in this
// process, into which SHMEM_MAP maps a range of the back-end's fd
// (MAP_FIXED | MAP_SHARED, read-only unless the request says writable) and
// out of which SHMEM_UNMAP takes it again. Refused with an errno answer, as
// QEMU refuses them: an unknown shmid (ENODEV), a range past the region
// (ERANGE), an overlap with a mapping in place (EEXIST), an unmap of nothing
// mapped (ENOENT); and, because mmap needs them, a zero or unaligned length
// or offset and unknown flags (EINVAL) and a range past the end of the fd's
// file (EINVAL: touching it would raise SIGBUS here). When mmap itself fails
// its errno is the answer (ENOMEM when the process is out of mappings).

#include "base/error.hpp"
#include "base/mapping.hpp"
#include "frontend/backend_channel.hpp"
#include "vhost_user/messages.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace xenvhost::frontend {

class SharedMemoryRegions {
public:
    struct Range {
        uint64_t offset = 0;
        uint64_t len = 0;
        bool writable = false;
    };

    static Result<std::unique_ptr<SharedMemoryRegions>> create(std::span<const uint64_t> sizes);
    ~SharedMemoryRegions();
    SharedMemoryRegions(const SharedMemoryRegions&) = delete;
    SharedMemoryRegions& operator=(const SharedMemoryRegions&) = delete;

    // Answers for the back-end: 0, or an errno value.
    uint64_t map(const vhost_user::ShmemMap& m, int fd);
    uint64_t unmap(const vhost_user::ShmemMap& m);
    // SHMEM_MAP and SHMEM_UNMAP handlers on `channel`.
    void serve(BackendChannel& channel);

    size_t count() const { return regions_.size(); }
    // Under the lock the reader maps with: who reads the region through
    // this pointer sees what the last map put there.
    uint8_t* base(uint8_t shmid) const {
        std::lock_guard lock(mutex_);
        return regions_.at(shmid).reservation.data();
    }
    uint64_t size(uint8_t shmid) const {
        std::lock_guard lock(mutex_);
        return regions_.at(shmid).reservation.size();
    }
    std::vector<Range> mappings(uint8_t shmid) const;

private:
    struct Region {
        Mapping reservation;
        std::vector<Range> mapped;
    };
    SharedMemoryRegions() = default;
    // Puts the PROT_NONE reservation back over [offset, +len) of a region.
    bool reserve(Region& r, uint64_t offset, uint64_t len);

    mutable std::mutex mutex_;
    std::vector<Region> regions_;
    uint64_t page_ = 4096;
};

// What /proc/self/maps says about the page at `addr`: "rw-s", "r--s",
// "---p"..., empty if nothing is mapped there.
std::string page_protection(const void* addr);
// Whether the kernel lets this process write (read) `len` bytes at `addr`:
// probed with a system call, which fails with EFAULT where a plain access
// would raise SIGSEGV. The write probe stores zeroes.
bool kernel_can_write(void* addr, size_t len);
bool kernel_can_read(const void* addr, size_t len);

}  // namespace xenvhost::frontend
