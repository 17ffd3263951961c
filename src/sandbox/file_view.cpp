#include "sandbox/file_view.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

namespace xenvhost::sandbox {

Result<> enter_empty_root(const std::string& mount_point) {
    struct stat st{};
    if (mount_point.empty() || mount_point[0] != '/') return fail("sandbox root '{}' is not an absolute path", mount_point);
    if (::stat(mount_point.c_str(), &st) < 0) return fail_errno("sandbox root {}", mount_point);
    if (!S_ISDIR(st.st_mode)) return fail("sandbox root {} is not a directory", mount_point);
    // Log lines carry local time: read the zone before /etc is out of reach.
    ::tzset();
    if (::unshare(CLONE_NEWNS) < 0) return fail_errno("unshare(CLONE_NEWNS)");
    // Nothing we mount may propagate back to the host's namespace.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) return fail_errno("make / private");
    if (::mount("xenvhost-empty", mount_point.c_str(), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "size=4k,nr_inodes=1,mode=0555") < 0)
        return fail_errno("mount an empty tmpfs on {}", mount_point);
    if (::chdir(mount_point.c_str()) < 0) return fail_errno("chdir {}", mount_point);
    if (::chroot(".") < 0) return fail_errno("chroot {}", mount_point);
    if (::chdir("/") < 0) return fail_errno("chdir / in the sandbox root");
    return {};
}

}  // namespace xenvhost::sandbox
