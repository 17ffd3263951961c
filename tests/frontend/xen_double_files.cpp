#include "frontend/xen_double_files.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fmt/core.h>

#include <atomic>

namespace xenvhost::frontend {

namespace xd = xendouble;

XenDoubleCounters XenDoubleCounters::operator-(const XenDoubleCounters& o) const {
    XenDoubleCounters d;
    for (unsigned i = 0; i < xd::kCounterCount; ++i) d.v[i] = v[i] - o.v[i];
    return d;
}

std::string XenDoubleCounters::describe() const {
    std::string s;
    for (unsigned i = 0; i < xd::kCounterCount; ++i)
        s += fmt::format("{}{}={}", i ? " " : "", xd::counter_name(i), v[i]);
    return s;
}

namespace {

Result<UniqueFd> create_file(const std::string& path, uint64_t size) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return fail_errno("create {}", path);
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return fail_errno("size {}", path);
    return fd;
}

Result<Mapping> create_mapped(const std::string& path, uint64_t size) {
    auto fd = create_file(path, size);
    if (!fd) return std::unexpected(fd.error());
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd->get(), 0);
    if (p == MAP_FAILED) return fail_errno("map {}", path);
    return Mapping(p, size);
}

}  // namespace

Result<XenDoubleFiles> XenDoubleFiles::create(const std::string& dir, uint64_t pages, uint32_t domid) {
    if (pages == 0) return fail("a guest needs at least one page");
    XenDoubleFiles f;
    f.dir_ = dir;
    f.pages_ = pages;
    f.domid_ = domid;
    // Sparse: only pages the test touches take space.
    auto memory = create_file(dir + "/" + xd::kMemoryFile, pages * xd::kPageSize);
    if (!memory) return std::unexpected(memory.error());
    f.memory_ = std::move(*memory);
    struct {
        const char* name;
        uint64_t size;
        Mapping* out;
    } files[] = {{xd::kGrantsFile, pages, &f.grants_},
                 {xd::kFramesFile, pages, &f.frames_},
                 {xd::kCountersFile, xd::kCounterCount * sizeof(uint64_t), &f.counters_},
                 {xd::kMapCountFile, pages * sizeof(uint32_t), &f.mapcount_}};
    for (auto& file : files) {
        auto m = create_mapped(dir + "/" + file.name, file.size);
        if (!m) return std::unexpected(m.error());
        *file.out = std::move(*m);
    }
    f.gntdev_ = UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    f.privcmd_ = UniqueFd(::open("/dev/zero", O_RDWR | O_CLOEXEC));
    if (!f.gntdev_ || !f.privcmd_) return fail_errno("open /dev/null or /dev/zero");
    return f;
}

std::vector<std::pair<std::string, std::string>> XenDoubleFiles::environment() const {
    return {{xd::kDirEnv, dir_}, {xd::kDomidEnv, std::to_string(domid_)}};
}

Result<Mapping> XenDoubleFiles::map_memory(uint64_t offset, uint64_t len) const {
    if (offset % xd::kPageSize || len % xd::kPageSize || len == 0 || offset / xd::kPageSize + len / xd::kPageSize > pages_)
        return fail("guest memory view {:#x}+{:#x} is not whole pages inside {} pages", offset, len, pages_);
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, memory_.get(), static_cast<off_t>(offset));
    if (p == MAP_FAILED) return fail_errno("map guest memory {:#x}+{:#x}", offset, len);
    return Mapping(p, len);
}

GrantState XenDoubleFiles::grant(uint64_t page) const {
    if (page >= pages_) return xd::kNotGranted;
    return static_cast<GrantState>(std::atomic_ref<uint8_t>(grants_.data()[page]).load(std::memory_order_acquire));
}

void XenDoubleFiles::set_grant(uint64_t page, GrantState state) {
    if (page >= pages_) return;
    std::atomic_ref<uint8_t>(grants_.data()[page]).store(state, std::memory_order_release);
}

void XenDoubleFiles::set_grants(uint64_t gpa, uint64_t len, GrantState state) {
    if (len == 0) return;
    for (uint64_t p = gpa / xd::kPageSize; p <= (gpa + len - 1) / xd::kPageSize; ++p) set_grant(p, state);
}

void XenDoubleFiles::set_frame_missing(uint64_t page, bool missing) {
    if (page >= pages_) return;
    std::atomic_ref<uint8_t>(frames_.data()[page])
        .store(missing ? xd::kFrameMissing : xd::kFramePresent, std::memory_order_release);
}

uint32_t XenDoubleFiles::mapcount(uint64_t page) const {
    if (page >= pages_) return 0;
    auto* words = reinterpret_cast<uint32_t*>(mapcount_.data());
    return std::atomic_ref<uint32_t>(words[page]).load(std::memory_order_acquire);
}

std::optional<uint64_t> XenDoubleFiles::first_mapped(uint64_t gpa, uint64_t len) const {
    if (len == 0) return std::nullopt;
    for (uint64_t p = gpa / xd::kPageSize; p <= (gpa + len - 1) / xd::kPageSize; ++p)
        if (mapcount(p)) return p;
    return std::nullopt;
}

XenDoubleCounters XenDoubleFiles::counters() const {
    XenDoubleCounters c;
    auto* words = reinterpret_cast<uint64_t*>(counters_.data());
    for (unsigned i = 0; i < xd::kCounterCount; ++i)
        c.v[i] = std::atomic_ref<uint64_t>(words[i]).load(std::memory_order_acquire);
    return c;
}

}  // namespace xenvhost::frontend
