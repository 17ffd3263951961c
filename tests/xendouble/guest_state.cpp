#include "xendouble/guest_state.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace xenvhost::xendouble {

void note(bool always, const char* fmt, ...) {
    if (!always && !std::getenv(kDebugEnv)) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    std::fprintf(stderr, "xendouble: %s\n", line);
}

bool map_file(const std::string& dir, const char* name, size_t min_size, int prot, Mapping& out) {
    const std::string path = dir + "/" + name;
    UniqueFd fd(::open(path.c_str(), (prot & PROT_WRITE ? O_RDWR : O_RDONLY) | O_CLOEXEC));
    struct stat st{};
    if (!fd || ::fstat(fd.get(), &st) < 0) {
        int e = errno;
        note(true, "cannot open %s: %s", path.c_str(), std::strerror(e));
        errno = e;
        return false;
    }
    if (static_cast<uint64_t>(st.st_size) < min_size) {
        note(true, "%s holds %lld bytes, needs %zu", path.c_str(), static_cast<long long>(st.st_size), min_size);
        errno = EINVAL;
        return false;
    }
    void* p = ::mmap(nullptr, min_size, prot, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) {
        int e = errno;
        note(true, "cannot map %s: %s", path.c_str(), std::strerror(e));
        errno = e;
        return false;
    }
    out = Mapping(p, min_size);
    return true;
}

bool dir_and_domid_from_env(const char* caller, std::string& dir_out, uint32_t& domid_out) {
    const char* dir = std::getenv(kDirEnv);
    const char* domid = std::getenv(kDomidEnv);
    if (!dir || !*dir || !domid || !*domid) {
        note(true, "%s: %s and %s must be set", caller, kDirEnv, kDomidEnv);
        errno = ENOENT;
        return false;
    }
    char* end = nullptr;
    errno = 0;
    unsigned long d = std::strtoul(domid, &end, 10);
    if (errno || *end || d >= 0x7ff0) {
        note(true, "%s: %s=%s is not a guest domain id", caller, kDomidEnv, domid);
        errno = EINVAL;
        return false;
    }
    dir_out = dir;
    domid_out = static_cast<uint32_t>(d);
    return true;
}

std::shared_ptr<GuestState> GuestState::open_from_env(const char* caller) {
    std::string dir;
    uint32_t domid = 0;
    if (!dir_and_domid_from_env(caller, dir, domid)) return nullptr;
    auto s = std::make_shared<GuestState>();
    s->domid_ = domid;
    const std::string memory = std::string(dir) + "/" + kMemoryFile;
    s->memory_ = UniqueFd(::open(memory.c_str(), O_RDWR | O_CLOEXEC));
    struct stat st{};
    if (!s->memory_ || ::fstat(s->memory_.get(), &st) < 0) {
        int e = errno;
        note(true, "%s: cannot open %s: %s", caller, memory.c_str(), std::strerror(e));
        errno = e;
        return nullptr;
    }
    if (st.st_size <= 0 || st.st_size % static_cast<off_t>(kPageSize)) {
        note(true, "%s: %s is %lld bytes, not a whole number of pages", caller, memory.c_str(),
             static_cast<long long>(st.st_size));
        errno = EINVAL;
        return nullptr;
    }
    s->pages_ = static_cast<uint64_t>(st.st_size) / kPageSize;
    if (!map_file(dir, kGrantsFile, s->pages_, PROT_READ, s->grants_) ||
        !map_file(dir, kFramesFile, s->pages_, PROT_READ, s->frames_) ||
        !map_file(dir, kCountersFile, kCounterCount * sizeof(uint64_t), PROT_READ | PROT_WRITE, s->counters_) ||
        !map_file(dir, kMapCountFile, s->pages_ * sizeof(uint32_t), PROT_READ | PROT_WRITE, s->mapcount_))
        return nullptr;
    note(false, "%s: %s, %llu pages, domain %u", caller, dir.c_str(), static_cast<unsigned long long>(s->pages_), s->domid_);
    return s;
}

GrantState GuestState::grant(uint64_t page) const {
    if (page >= pages_) return kNotGranted;
    uint8_t v = std::atomic_ref<uint8_t>(grants_.data()[page]).load(std::memory_order_acquire);
    return v == kGrantedReadOnly || v == kGrantedWritable ? static_cast<GrantState>(v) : kNotGranted;
}

bool GuestState::frame_missing(uint64_t page) const {
    if (page >= pages_) return true;
    return std::atomic_ref<uint8_t>(frames_.data()[page]).load(std::memory_order_acquire) == kFrameMissing;
}

void GuestState::count(Counter c, uint64_t n) const {
    auto* words = reinterpret_cast<uint64_t*>(counters_.data());
    std::atomic_ref<uint64_t>(words[c]).fetch_add(n, std::memory_order_relaxed);
}

void GuestState::add_mapcount(uint64_t page, int32_t delta) const {
    if (page >= pages_) return;
    auto* words = reinterpret_cast<uint32_t*>(mapcount_.data());
    std::atomic_ref<uint32_t>(words[page]).fetch_add(static_cast<uint32_t>(delta), std::memory_order_release);
}

}  // namespace xenvhost::xendouble
