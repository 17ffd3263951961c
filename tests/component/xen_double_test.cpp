// The mapping double itself, loaded with dlopen into the test: grant and
// foreign maps behave as gntdev and privcmd do for the cases the worker
// tests rely on, and mappings are real shared views of guest memory.
#include "fixture.hpp"

#include "frontend/xen_double_files.hpp"
#include "frontend/xen_worker.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cstring>

#define __XEN_TOOLS__ 1
extern "C" {
#include <xenforeignmemory.h>
#include <xengnttab.h>
}

namespace xenvhost::component {
namespace {

namespace xd = xendouble;
constexpr uint64_t kPage = xd::kPageSize;

struct DoubleApi {
    decltype(&xengnttab_open) gnt_open;
    decltype(&xengnttab_close) gnt_close;
    decltype(&xengnttab_map_grant_ref) gnt_map_one;
    decltype(&xengnttab_map_grant_refs) gnt_map_refs;
    decltype(&xengnttab_map_domain_grant_refs) gnt_map;
    decltype(&xengnttab_unmap) gnt_unmap;
    decltype(&xenforeignmemory_open) fm_open;
    decltype(&xenforeignmemory_close) fm_close;
    decltype(&xenforeignmemory_restrict) fm_restrict;
    decltype(&xenforeignmemory_map) fm_map;
    decltype(&xenforeignmemory_unmap) fm_unmap;
    int (*stat_fn)(const char*, struct stat*);
};

class XenDoubleTest : public ::testing::Test {
protected:
    void SetUp() override {
        const std::string lib = xen_worker_defaults(XENVHOST_BUILD_BIN).double_lib;
        handle_ = ::dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
        ASSERT_NE(handle_, nullptr) << ::dlerror();
        bool ok = true;
        auto sym = [&](auto& fn, const char* name) {
            fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(handle_, name));
            ok = ok && fn;
        };
        sym(api_.gnt_open, "xengnttab_open");
        sym(api_.gnt_close, "xengnttab_close");
        sym(api_.gnt_map_one, "xengnttab_map_grant_ref");
        sym(api_.gnt_map_refs, "xengnttab_map_grant_refs");
        sym(api_.gnt_map, "xengnttab_map_domain_grant_refs");
        sym(api_.gnt_unmap, "xengnttab_unmap");
        sym(api_.fm_open, "xenforeignmemory_open");
        sym(api_.fm_close, "xenforeignmemory_close");
        sym(api_.fm_restrict, "xenforeignmemory_restrict");
        sym(api_.fm_map, "xenforeignmemory_map");
        sym(api_.fm_unmap, "xenforeignmemory_unmap");
        sym(api_.stat_fn, "stat");
        ASSERT_TRUE(ok) << "libxendouble.so lacks a symbol";
        auto dir = TempDir::create("xenvhost-double");
        ASSERT_TRUE(dir) << dir.error().message;
        dir_ = std::make_unique<TempDir>(std::move(*dir));
        auto f = XenDoubleFiles::create(dir_->path(), 64, 7);
        ASSERT_TRUE(f) << f.error().message;
        files_ = std::make_unique<XenDoubleFiles>(std::move(*f));
        auto view = files_->map_memory(0, 64 * kPage);
        ASSERT_TRUE(view) << view.error().message;
        memory_ = std::move(*view);
        for (uint64_t p = 0; p < 64; ++p) std::memset(memory_.data() + p * kPage, static_cast<int>(p), kPage);
        ::setenv(xd::kDirEnv, dir_->path().c_str(), 1);
        ::setenv(xd::kDomidEnv, "7", 1);
    }
    void TearDown() override {
        ::unsetenv(xd::kDirEnv);
        ::unsetenv(xd::kDomidEnv);
        if (handle_) ::dlclose(handle_);
    }
    // Whether the kernel may write to [p, p+len): read() into it fails with
    // EFAULT when the mapping is read-only.
    static bool writable(void* p, size_t len) {
        UniqueFd zero(::open("/dev/zero", O_RDONLY | O_CLOEXEC));
        return ::read(zero.get(), p, len) == static_cast<ssize_t>(len);
    }

    void* handle_ = nullptr;
    DoubleApi api_{};
    std::unique_ptr<TempDir> dir_;
    std::unique_ptr<XenDoubleFiles> files_;
    Mapping memory_;
};

TEST_F(XenDoubleTest, OpenNeedsItsEnvironment) {
    ::unsetenv(xd::kDirEnv);
    errno = 0;
    EXPECT_EQ(api_.gnt_open(nullptr, 0), nullptr);
    EXPECT_NE(errno, 0);
    EXPECT_EQ(api_.fm_open(nullptr, 0), nullptr);
}

TEST_F(XenDoubleTest, GrantMapsAreSharedViewsWithTheGrantedProtection) {
    xengnttab_handle* g = api_.gnt_open(nullptr, 0);
    ASSERT_NE(g, nullptr);
    files_->set_grant(5, xd::kGrantedWritable);
    files_->set_grant(6, xd::kGrantedWritable);
    files_->set_grant(7, xd::kGrantedReadOnly);
    uint32_t refs[] = {5, 6};
    auto* p = static_cast<uint8_t*>(api_.gnt_map(g, 2, 7, refs, PROT_READ | PROT_WRITE));
    ASSERT_NE(p, nullptr) << std::strerror(errno);
    EXPECT_EQ(p[0], 5);
    EXPECT_EQ(p[kPage], 6);
    p[kPage + 10] = 0xaa;  // lands in the guest's page 6
    EXPECT_EQ(memory_.data()[6 * kPage + 10], 0xaa);
    EXPECT_EQ(files_->mapcount(5), 1u);
    EXPECT_EQ(files_->mapcount(6), 1u);
    EXPECT_EQ(api_.gnt_unmap(g, p, 1), -1) << "unmap with the wrong count";
    EXPECT_EQ(api_.gnt_unmap(g, p, 2), 0);
    EXPECT_EQ(files_->mapcount(5), 0u);

    // Read-only grant: a read-only map works and is read-only; a writable one fails.
    auto* ro = static_cast<uint8_t*>(api_.gnt_map_one(g, 7, 7, PROT_READ));
    ASSERT_NE(ro, nullptr);
    EXPECT_EQ(ro[0], 7);
    EXPECT_FALSE(writable(ro, 16));
    EXPECT_EQ(api_.gnt_unmap(g, ro, 1), 0);
    errno = 0;
    EXPECT_EQ(api_.gnt_map_one(g, 7, 7, PROT_READ | PROT_WRITE), nullptr);
    EXPECT_EQ(errno, EINVAL);

    // Not granted, another domain, beyond the guest: the whole call fails.
    uint32_t mixed[] = {5, 8};
    EXPECT_EQ(api_.gnt_map(g, 2, 7, mixed, PROT_READ), nullptr);
    EXPECT_EQ(api_.gnt_map(g, 1, 8, refs, PROT_READ), nullptr);
    uint32_t far[] = {64};
    EXPECT_EQ(api_.gnt_map(g, 1, 7, far, PROT_READ), nullptr);
    uint32_t domids[] = {7, 9};
    EXPECT_EQ(api_.gnt_map_refs(g, 2, domids, refs, PROT_READ), nullptr);

    // Refs in any order map in that order.
    uint32_t backwards[] = {6, 5};
    auto* b = static_cast<uint8_t*>(api_.gnt_map(g, 2, 7, backwards, PROT_READ));
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b[0], 6);
    EXPECT_EQ(b[kPage], 5);
    EXPECT_EQ(api_.gnt_unmap(g, b, 2), 0);

    const XenDoubleCounters c = files_->counters();
    EXPECT_EQ(c[xd::kGrantMapCalls], 8u) << c.describe();
    EXPECT_EQ(c[xd::kGrantUnmapCalls], 4u) << c.describe();  // one of them refused
    EXPECT_EQ(c[xd::kGrantPagesMapped], 5u) << c.describe();
    EXPECT_EQ(c[xd::kFailures], 5u) << c.describe();
    EXPECT_EQ(api_.gnt_close(g), 0);
}

TEST_F(XenDoubleTest, RevokedGrantFailsTheNextMapOnly) {
    xengnttab_handle* g = api_.gnt_open(nullptr, 0);
    ASSERT_NE(g, nullptr);
    files_->set_grant(3, xd::kGrantedWritable);
    void* p = api_.gnt_map_one(g, 7, 3, PROT_READ | PROT_WRITE);
    ASSERT_NE(p, nullptr);
    files_->set_grant(3, xd::kNotGranted);
    EXPECT_EQ(api_.gnt_map_one(g, 7, 3, PROT_READ), nullptr);
    // The live mapping stays usable until unmapped, as with a real grant.
    static_cast<uint8_t*>(p)[0] = 0x55;
    EXPECT_EQ(memory_.data()[3 * kPage], 0x55);
    EXPECT_EQ(api_.gnt_unmap(g, p, 1), 0);
    api_.gnt_close(g);
}

TEST_F(XenDoubleTest, ForeignMapsReportMissingFramesPerPage) {
    xenforeignmemory_handle* f = api_.fm_open(nullptr, 0);
    ASSERT_NE(f, nullptr);
    files_->set_frame_missing(11, true);
    xen_pfn_t frames[] = {10, 11, 12, 99};
    int err[4] = {1, 1, 1, 1};
    auto* p = static_cast<uint8_t*>(api_.fm_map(f, 7, PROT_READ | PROT_WRITE, 4, frames, err));
    ASSERT_NE(p, nullptr) << std::strerror(errno);
    EXPECT_EQ(err[0], 0);
    EXPECT_EQ(err[1], -ENOENT);
    EXPECT_EQ(err[2], 0);
    EXPECT_EQ(err[3], -EINVAL);  // beyond the guest's memory
    EXPECT_EQ(p[0], 10);
    EXPECT_EQ(p[2 * kPage], 12);
    p[2 * kPage + 1] = 0x77;
    EXPECT_EQ(memory_.data()[12 * kPage + 1], 0x77);
    EXPECT_FALSE(writable(p + kPage, 16)) << "a failed frame must not be accessible";
    EXPECT_EQ(api_.fm_unmap(f, p, 4), 0);
    // Without err[] any failed frame fails the call.
    errno = 0;
    EXPECT_EQ(api_.fm_map(f, 7, PROT_READ, 4, frames, nullptr), nullptr);
    EXPECT_EQ(errno, ENOENT);
    // Read-only foreign map.
    xen_pfn_t one[] = {20};
    void* ro = api_.fm_map(f, 7, PROT_READ, 1, one, nullptr);
    ASSERT_NE(ro, nullptr);
    EXPECT_FALSE(writable(ro, 16));
    EXPECT_EQ(api_.fm_unmap(f, ro, 1), 0);
    // Another domain does not exist here.
    errno = 0;
    EXPECT_EQ(api_.fm_map(f, 8, PROT_READ, 1, one, nullptr), nullptr);
    EXPECT_EQ(errno, ESRCH);
    const XenDoubleCounters c = files_->counters();
    EXPECT_EQ(c[xd::kForeignMapCalls], 4u) << c.describe();
    EXPECT_EQ(c[xd::kForeignPagesMapped], 3u) << c.describe();
    EXPECT_EQ(c[xd::kForeignUnmapCalls], 2u) << c.describe();
    EXPECT_EQ(c[xd::kFailures], 3u) << c.describe();
    api_.fm_close(f);
}

TEST_F(XenDoubleTest, RestrictedForeignHandle) {
    xenforeignmemory_handle* f = api_.fm_open(nullptr, 0);
    ASSERT_NE(f, nullptr);
    xen_pfn_t one[] = {1};
    ASSERT_EQ(api_.fm_restrict(f, 7), 0);
    void* p = api_.fm_map(f, 7, PROT_READ, 1, one, nullptr);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(api_.fm_unmap(f, p, 1), 0);
    errno = 0;
    EXPECT_EQ(api_.fm_restrict(f, 8), -1);
    EXPECT_EQ(errno, EINVAL);
    api_.fm_close(f);

    // Restricted to a domain that is not this guest: every map is EPERM.
    f = api_.fm_open(nullptr, 0);
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(api_.fm_restrict(f, 9), 0);
    errno = 0;
    EXPECT_EQ(api_.fm_map(f, 7, PROT_READ, 1, one, nullptr), nullptr);
    EXPECT_EQ(errno, EPERM);
    errno = 0;
    EXPECT_EQ(api_.fm_map(f, 9, PROT_READ, 1, one, nullptr), nullptr);
    EXPECT_EQ(errno, EPERM);
    api_.fm_close(f);
}

TEST_F(XenDoubleTest, StatStandsInForTheXenDevices) {
    struct stat gnt{}, null{}, priv{}, zero{};
    ASSERT_EQ(api_.stat_fn("/dev/xen/gntdev", &gnt), 0);
    ASSERT_EQ(::stat("/dev/null", &null), 0);
    ASSERT_EQ(api_.stat_fn("/dev/xen/privcmd", &priv), 0);
    ASSERT_EQ(::stat("/dev/zero", &zero), 0);
    EXPECT_EQ(gnt.st_rdev, null.st_rdev);
    EXPECT_EQ(priv.st_rdev, zero.st_rdev);
    EXPECT_NE(gnt.st_rdev, priv.st_rdev);
    struct stat other{};
    EXPECT_EQ(api_.stat_fn(dir_->path().c_str(), &other), 0);
    EXPECT_TRUE(S_ISDIR(other.st_mode));
}

}  // namespace
}  // namespace xenvhost::component
