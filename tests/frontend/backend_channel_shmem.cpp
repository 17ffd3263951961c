#include "frontend/backend_channel_shmem.hpp"

#include "base/unique_fd.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace xenvhost::frontend {

namespace vu = vhost_user;

Result<std::unique_ptr<SharedMemoryRegions>> SharedMemoryRegions::create(std::span<const uint64_t> sizes) {
    std::unique_ptr<SharedMemoryRegions> s(new SharedMemoryRegions());
    s->page_ = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    for (size_t i = 0; i < sizes.size(); ++i) {
        if (sizes[i] == 0 || sizes[i] % s->page_)
            return fail("shared memory region {} has size {:#x}, not a whole number of pages", i, sizes[i]);
        void* p = ::mmap(nullptr, sizes[i], PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) return fail_errno("reserving shared memory region {} ({:#x} bytes)", i, sizes[i]);
        s->regions_.push_back(Region{Mapping(p, sizes[i]), {}});
    }
    return s;
}

SharedMemoryRegions::~SharedMemoryRegions() = default;

bool SharedMemoryRegions::reserve(Region& r, uint64_t offset, uint64_t len) {
    void* p = ::mmap(r.reservation.data() + offset, len, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    return p != MAP_FAILED;
}

uint64_t SharedMemoryRegions::map(const vu::ShmemMap& m, int fd) {
    std::lock_guard lock(mutex_);
    if (m.shmid >= regions_.size()) return ENODEV;
    Region& r = regions_[m.shmid];
    if (m.flags & ~uint64_t{1}) return EINVAL;
    if (m.len == 0 || m.len % page_ || m.shm_offset % page_ || m.fd_offset % page_) return EINVAL;
    if (m.shm_offset + m.len < m.shm_offset || m.shm_offset + m.len > r.reservation.size()) return ERANGE;
    for (const Range& x : r.mapped)
        if (m.shm_offset < x.offset + x.len && x.offset < m.shm_offset + m.len) return EEXIST;
    struct stat st{};
    if (::fstat(fd, &st) < 0) return static_cast<uint64_t>(errno);
    if (S_ISREG(st.st_mode) &&
        (m.fd_offset + m.len < m.fd_offset || m.fd_offset + m.len > static_cast<uint64_t>(st.st_size)))
        return EINVAL;
    const bool writable = m.flags & 1;
    void* want = r.reservation.data() + m.shm_offset;
    void* p = ::mmap(want, m.len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED | MAP_FIXED, fd,
                     static_cast<off_t>(m.fd_offset));
    if (p == MAP_FAILED) {
        const int e = errno;
        // A failed MAP_FIXED may leave a hole; nothing else may land there.
        (void)reserve(r, m.shm_offset, m.len);
        return static_cast<uint64_t>(e);
    }
    r.mapped.push_back(Range{m.shm_offset, m.len, writable});
    return 0;
}

uint64_t SharedMemoryRegions::unmap(const vu::ShmemMap& m) {
    std::lock_guard lock(mutex_);
    if (m.shmid >= regions_.size()) return ENODEV;
    Region& r = regions_[m.shmid];
    for (auto it = r.mapped.begin(); it != r.mapped.end(); ++it) {
        if (it->offset != m.shm_offset || it->len != m.len) continue;
        if (!reserve(r, m.shm_offset, m.len)) return static_cast<uint64_t>(errno);
        r.mapped.erase(it);
        return 0;
    }
    return ENOENT;
}

void SharedMemoryRegions::serve(BackendChannel& channel) {
    channel.on(BackendRequest::kShmemMap, [this](Message& msg) -> uint64_t {
        vu::ShmemMap m;
        if (msg.payload.size() != sizeof m || msg.fds.size() != 1) return EINVAL;
        std::memcpy(&m, msg.payload.data(), sizeof m);
        return map(m, msg.fds[0].get());
    });
    channel.on(BackendRequest::kShmemUnmap, [this](Message& msg) -> uint64_t {
        vu::ShmemMap m;
        if (msg.payload.size() != sizeof m || !msg.fds.empty()) return EINVAL;
        std::memcpy(&m, msg.payload.data(), sizeof m);
        return unmap(m);
    });
}

std::vector<SharedMemoryRegions::Range> SharedMemoryRegions::mappings(uint8_t shmid) const {
    std::lock_guard lock(mutex_);
    return regions_.at(shmid).mapped;
}

std::string page_protection(const void* addr) {
    std::FILE* f = std::fopen("/proc/self/maps", "re");
    if (!f) return {};
    const auto a = reinterpret_cast<uintptr_t>(addr);
    char line[512];
    std::string prot;
    while (std::fgets(line, sizeof line, f)) {
        unsigned long start = 0, end = 0;
        char perms[8] = {};
        if (std::sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3) continue;
        if (a >= start && a < end) {
            prot = perms;
            break;
        }
    }
    std::fclose(f);
    return prot;
}

bool kernel_can_write(void* addr, size_t len) {
    UniqueFd zero(::open("/dev/zero", O_RDONLY | O_CLOEXEC));
    if (!zero) return false;
    return ::read(zero.get(), addr, len) == static_cast<ssize_t>(len);
}

bool kernel_can_read(const void* addr, size_t len) {
    int p[2];
    if (len > 4096 || ::pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) return false;
    UniqueFd rd(p[0]), wr(p[1]);
    return ::write(wr.get(), addr, len) == static_cast<ssize_t>(len);
}

}  // namespace xenvhost::frontend
