#include "leak_probe.hpp"

#include "frontend/backend_process.hpp"

#include <unistd.h>

#include <fmt/core.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string_view>

namespace xenvhost::component {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

Result<int> count_maps(pid_t pid) {
    std::string path = fmt::format("/proc/{}/maps", pid);
    std::ifstream in(path);
    if (!in) return fail_errno("open {}", path);
    // Only mappings of something named: files, memfds (guest memory regions),
    // devices (gntdev, privcmd). Anonymous ones are the allocators' (glibc's
    // arenas, a sanitizer's regions growing with its quarantine), which the
    // RSS figure covers.
    int n = 0;
    for (std::string line; std::getline(in, line);)
        if (line.find(" /") != std::string::npos) ++n;
    return n;
}

Result<uint64_t> read_rss_kib(pid_t pid) {
    std::string path = fmt::format("/proc/{}/status", pid);
    std::ifstream in(path);
    if (!in) return fail_errno("open {}", path);
    constexpr std::string_view key = "VmRSS:";
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with(key)) continue;
        std::string_view v(line);
        v.remove_prefix(key.size());
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        uint64_t kib = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), kib);
        if (ec != std::errc{} || end == v.data()) return fail("{}: bad VmRSS line '{}'", path, line);
        return kib;
    }
    return fail("{}: no VmRSS line", path);
}

std::string mib(uint64_t kib) { return fmt::format("{:.1f}", static_cast<double>(kib) / 1024.0); }

}  // namespace

Result<ProcessFigures> read_figures(pid_t pid) {
    ProcessFigures f;
    auto fds = frontend::count_open_fds(pid);
    if (!fds) return std::unexpected(fds.error());
    auto maps = count_maps(pid);
    if (!maps) return std::unexpected(maps.error());
    auto rss = read_rss_kib(pid);
    if (!rss) return std::unexpected(rss.error());
    f.fds = *fds;
    f.maps = *maps;
    f.rss_kib = *rss;
    return f;
}

Result<ProcessFigures> settled_figures(pid_t pid, const ProcessFigures& target, int timeout_ms) {
    for (int waited = 0;; waited += 20) {
        auto f = read_figures(pid);
        if (!f) return f;
        if ((f->fds <= target.fds && f->maps <= target.maps) || waited >= timeout_ms) return f;
        ::usleep(20000);
    }
}

Result<ProcessFigures> settled_figures(pid_t pid, int timeout_ms) {
    auto prev = read_figures(pid);
    if (!prev) return prev;
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        ::usleep(100000);
        auto f = read_figures(pid);
        if (!f) return f;
        if (f->fds == prev->fds && f->maps == prev->maps) return f;
        prev = f;
    }
    return prev;
}

std::string describe_change(const ProcessFigures& before, const ProcessFigures& after) {
    return fmt::format("fds {}->{} maps {}->{} rss {}->{} MiB", before.fds, after.fds, before.maps,
                       after.maps, mib(before.rss_kib), mib(after.rss_kib));
}

Result<unsigned> leak_cycles(unsigned normal) {
    const char* env = std::getenv("XENVHOST_LEAK_CYCLES");
    if (!env || !*env) return normal;
    std::string_view v(env);
    unsigned n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size() || n == 0)
        return fail("XENVHOST_LEAK_CYCLES='{}' is not a positive number", v);
    return n;
}

bool leak_check_rss() {
    const char* env = std::getenv("XENVHOST_LEAK_CHECK_RSS");
    if (env && *env) return std::string_view(env) != "0";
    return !kSanitized;
}

}  // namespace xenvhost::component
