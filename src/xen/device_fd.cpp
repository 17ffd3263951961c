#include "xen/device_fd.hpp"

#include <sys/stat.h>

namespace xenvhost::xen {

Result<> check_device_fd(int fd, XenDevice expected) {
    const char* name = expected == XenDevice::kGntdev ? "gntdev" : "privcmd";
    const char* paths[2] = {expected == XenDevice::kGntdev ? "/dev/xen/gntdev" : "/dev/xen/privcmd",
                            expected == XenDevice::kGntdev ? "/dev/xen/gntdev" : "/proc/xen/privcmd"};
    struct stat got{};
    if (::fstat(fd, &got) < 0) return fail_errno("fstat of the region fd");
    if (!S_ISCHR(got.st_mode)) return fail("the region fd is not a character device (expected {})", name);
    for (const char* path : paths) {
        struct stat want{};
        if (::stat(path, &want) == 0 && S_ISCHR(want.st_mode) && want.st_rdev == got.st_rdev) return {};
    }
    return fail("the region fd is not the {} device", name);
}

}  // namespace xenvhost::xen
