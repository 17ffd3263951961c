// The double's own map + unmap cost, measured in this process through
// dlopen, for the page counts the request shapes need.
#include "xendouble/bench.hpp"

#include "frontend/test_env.hpp"
#include "frontend/xen_double_files.hpp"

#include <dlfcn.h>
#include <sys/mman.h>
#include <time.h>

#include <cstdlib>
#include <memory>

extern "C" {
#include <xengnttab.h>
}

namespace xenvhost::xenbench {

namespace xd = xendouble;

namespace {

// dlclose on scope exit.
struct Library {
    void* handle = nullptr;
    ~Library() {
        if (handle) ::dlclose(handle);
    }
};

double now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

}  // namespace

Result<double> map_unmap_ns(const std::string& double_lib, uint32_t pages) {
    Library lib{::dlopen(double_lib.c_str(), RTLD_NOW | RTLD_LOCAL)};
    if (!lib.handle) return fail("dlopen {}: {}", double_lib, ::dlerror());
    auto open = reinterpret_cast<decltype(&xengnttab_open)>(::dlsym(lib.handle, "xengnttab_open"));
    auto close = reinterpret_cast<decltype(&xengnttab_close)>(::dlsym(lib.handle, "xengnttab_close"));
    auto map = reinterpret_cast<decltype(&xengnttab_map_domain_grant_refs)>(
        ::dlsym(lib.handle, "xengnttab_map_domain_grant_refs"));
    auto unmap = reinterpret_cast<decltype(&xengnttab_unmap)>(::dlsym(lib.handle, "xengnttab_unmap"));
    if (!open || !close || !map || !unmap) return fail("{} lacks the xengnttab functions", double_lib);

    auto dir = frontend::TempDir::create("xen-map-bench");
    if (!dir) return std::unexpected(dir.error());
    auto files = frontend::XenDoubleFiles::create(dir->path(), pages + 1, 7);
    if (!files) return std::unexpected(files.error());
    std::vector<uint32_t> refs;
    for (uint32_t i = 0; i < pages; ++i) {
        files->set_grant(i + 1, xd::kGrantedWritable);
        refs.push_back(i + 1);
    }
    ::setenv(xd::kDirEnv, dir->path().c_str(), 1);
    ::setenv(xd::kDomidEnv, "7", 1);
    xengnttab_handle* h = open(nullptr, 0);
    ::unsetenv(xd::kDirEnv);
    ::unsetenv(xd::kDomidEnv);
    if (!h) return fail_errno("xengnttab_open through the double");

    // Touch one byte per page, as a copy would, so the mapping is populated.
    auto round = [&]() -> bool {
        auto* p = static_cast<volatile uint8_t*>(map(h, pages, 7, refs.data(), PROT_READ | PROT_WRITE));
        if (!p) return false;
        for (uint32_t i = 0; i < pages; ++i) p[i * xd::kPageSize] = static_cast<uint8_t>(i);
        return unmap(h, const_cast<uint8_t*>(p), pages) == 0;
    };
    for (int i = 0; i < 1000; ++i)
        if (!round()) return fail_errno("map of {} refs through the double", pages);
    const int rounds = 20000;
    const double t0 = now_ns();
    for (int i = 0; i < rounds; ++i)
        if (!round()) return fail_errno("map of {} refs through the double", pages);
    const double ns = (now_ns() - t0) / rounds;
    close(h);
    return ns;
}

}  // namespace xenvhost::xenbench
