#include "xen/device_fd.hpp"

#include <sys/stat.h>

#include <optional>

namespace xenvhost::xen {

namespace {

struct DeviceNumbers {
    std::optional<dev_t> gntdev, privcmd;
};

std::optional<dev_t> device_number(std::initializer_list<const char*> paths) {
    for (const char* path : paths) {
        struct stat st{};
        if (::stat(path, &st) == 0 && S_ISCHR(st.st_mode)) return st.st_rdev;
    }
    return std::nullopt;
}

// Read once: a deprivileged process has no /dev after its drop, so the
// numbers must be known before it (remember_xen_devices).
const DeviceNumbers& numbers() {
    static const DeviceNumbers n{device_number({"/dev/xen/gntdev"}),
                                 device_number({"/dev/xen/privcmd", "/proc/xen/privcmd"})};
    return n;
}

}  // namespace

void remember_xen_devices() { (void)numbers(); }

Result<> check_device_fd(int fd, XenDevice expected) {
    const char* name = expected == XenDevice::kGntdev ? "gntdev" : "privcmd";
    struct stat got{};
    if (::fstat(fd, &got) < 0) return fail_errno("fstat of the region fd");
    if (!S_ISCHR(got.st_mode)) return fail("the region fd is not a character device (expected {})", name);
    const auto& want = expected == XenDevice::kGntdev ? numbers().gntdev : numbers().privcmd;
    if (want && *want == got.st_rdev) return {};
    return fail("the region fd is not the {} device", name);
}

}  // namespace xenvhost::xen
