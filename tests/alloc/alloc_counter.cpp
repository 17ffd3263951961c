// The replacement of the global operator new and delete that feeds
// allocations(); malloc itself is left alone (only the C libraries use it
// directly, and the project's own code allocates through new).
#include "alloc/alloc_counter.hpp"

#include <link.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {
std::atomic<uint64_t> g_count{0};

// Executable segments of the ignored library (set once, before counting matters).
struct Range {
    uintptr_t start, end;
};
Range g_ignored[8];
std::atomic<int> g_ignored_count{0};

bool ignored(const void* caller) {
    const auto a = reinterpret_cast<uintptr_t>(caller);
    const int n = g_ignored_count.load(std::memory_order_acquire);
    for (int i = 0; i < n; ++i)
        if (a >= g_ignored[i].start && a < g_ignored[i].end) return true;
    return false;
}

void* counted(const void* caller, std::size_t n, std::size_t align = 0) {
    if (!ignored(caller)) g_count.fetch_add(1, std::memory_order_relaxed);
    if (n == 0) n = 1;
    void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                                : std::malloc(n);
    if (!p) throw std::bad_alloc();
    return p;
}
}  // namespace

namespace xenvhost::testing {
uint64_t allocations() { return g_count.load(std::memory_order_relaxed); }

bool ignore_library(const char* name) {
    struct Search {
        const char* name;
        int found;
    } search{name, 0};
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) {
            auto* s = static_cast<Search*>(data);
            if (!info->dlpi_name || !std::strstr(info->dlpi_name, s->name)) return 0;
            for (int i = 0; i < info->dlpi_phnum && s->found < 8; ++i) {
                const auto& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
                const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
                g_ignored[s->found++] = Range{start, start + ph.p_memsz};
            }
            return 1;
        },
        &search);
    g_ignored_count.store(search.found, std::memory_order_release);
    return search.found > 0;
}
}  // namespace xenvhost::testing

void* operator new(std::size_t n) { return counted(__builtin_return_address(0), n); }
void* operator new[](std::size_t n) { return counted(__builtin_return_address(0), n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(__builtin_return_address(0), n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(__builtin_return_address(0), n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try { return counted(__builtin_return_address(0), n); } catch (...) { return nullptr; }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    try { return counted(__builtin_return_address(0), n); } catch (...) { return nullptr; }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
