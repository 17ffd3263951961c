#include "xendouble/page_mapper.hpp"

#include <sys/mman.h>

#include <cerrno>

namespace xenvhost::xendouble {

PageMapper::~PageMapper() {
    // Like gntdev and privcmd, closing a handle leaves its mappings in place;
    // the worker should have unmapped everything first, so say so if not.
    if (!live_.empty()) note(true, "handle closed with %zu live mappings", live_.size());
}

void* PageMapper::map(const std::vector<uint64_t>& pages, const std::vector<bool>& skip, int prot) {
    const size_t n = pages.size();
    if (n == 0) {
        errno = EINVAL;
        return nullptr;
    }
    state_->count(kSyscalls);
    void* base = ::mmap(nullptr, n * kPageSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return nullptr;
    auto* bytes = static_cast<uint8_t*>(base);
    Live live;
    live.count = n;
    size_t i = 0;
    while (i < n) {
        if (!skip.empty() && skip[i]) {
            ++i;
            continue;
        }
        // One mmap per run of consecutive pages.
        size_t run = 1;
        while (i + run < n && pages[i + run] == pages[i] + run && (skip.empty() || !skip[i + run])) ++run;
        state_->count(kSyscalls);
        void* p = ::mmap(bytes + i * kPageSize, run * kPageSize, prot, MAP_SHARED | MAP_FIXED, state_->memory_fd(),
                         static_cast<off_t>(pages[i] * kPageSize));
        if (p == MAP_FAILED) {
            int e = errno;
            ::munmap(base, n * kPageSize);
            errno = e;
            return nullptr;
        }
        for (size_t k = 0; k < run; ++k) live.pages.push_back(pages[i + k]);
        i += run;
    }
    for (uint64_t page : live.pages) state_->add_mapcount(page, 1);
    std::lock_guard lock(mutex_);
    live_.emplace(reinterpret_cast<uintptr_t>(base), std::move(live));
    return base;
}

int PageMapper::unmap(void* addr, uint64_t count) {
    Live live;
    {
        std::lock_guard lock(mutex_);
        auto it = live_.find(reinterpret_cast<uintptr_t>(addr));
        if (it == live_.end() || it->second.count != count) {
            note(true, "unmap of %p (%llu pages) does not match a live mapping", addr,
                 static_cast<unsigned long long>(count));
            errno = EINVAL;
            return -1;
        }
        live = std::move(it->second);
        live_.erase(it);
    }
    state_->count(kSyscalls);
    if (::munmap(addr, count * kPageSize) < 0) return -1;
    // After the munmap: a guest that sees the count drop may revoke.
    for (uint64_t page : live.pages) state_->add_mapcount(page, -1);
    return 0;
}

}  // namespace xenvhost::xendouble
