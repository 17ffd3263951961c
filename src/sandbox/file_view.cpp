#include "sandbox/file_view.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

namespace xenvhost::sandbox {
namespace {

constexpr unsigned long kLocked = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;

// `path` and its parents inside the new root (the tmpfs, writable until sealed).
Result<> make_dirs(const std::string& root, const std::string& path) {
    for (size_t slash = 1; slash != std::string::npos;) {
        slash = path.find('/', slash + 1);
        const std::string inside = root + path.substr(0, slash);
        if (::mkdir(inside.c_str(), 0755) < 0 && errno != EEXIST) return fail_errno("mkdir {}", inside);
    }
    return {};
}

Result<> bind_read_only(const std::string& root, const std::string& dir) {
    struct stat st{};
    if (dir.size() < 2 || dir[0] != '/' || dir.find("/..") != std::string::npos)
        return fail("'{}' is not an absolute directory to reach", dir);
    if (::stat(dir.c_str(), &st) < 0) return fail_errno("reach {}", dir);
    if (!S_ISDIR(st.st_mode)) return fail("{} is not a directory", dir);
    if (auto r = make_dirs(root, dir); !r) return r;
    const std::string target = root + dir;
    // Not recursive: what is mounted below the directory stays out.
    if (::mount(dir.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) < 0) return fail_errno("bind {}", dir);
    // Read-only still lets it connect to a socket there (sockets are not written through the mount).
    if (::mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_BIND | kLocked, nullptr) < 0)
        return fail_errno("make {} read-only", dir);
    return {};
}

}  // namespace

Result<> enter_private_root(const std::string& mount_point, std::span<const std::string> reachable) {
    struct stat st{};
    if (mount_point.empty() || mount_point[0] != '/') return fail("sandbox root '{}' is not an absolute path", mount_point);
    if (::stat(mount_point.c_str(), &st) < 0) return fail_errno("sandbox root {}", mount_point);
    if (!S_ISDIR(st.st_mode)) return fail("sandbox root {} is not a directory", mount_point);
    // Log lines carry local time: read the zone before /etc is out of reach.
    ::tzset();
    if (::unshare(CLONE_NEWNS) < 0) return fail_errno("unshare(CLONE_NEWNS)");
    // Nothing we mount may propagate back to the host's namespace.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) return fail_errno("make / private");
    if (reachable.empty()) {
        if (::mount("xenvhost-empty", mount_point.c_str(), "tmpfs", kLocked, "size=4k,nr_inodes=1,mode=0555") < 0)
            return fail_errno("mount an empty tmpfs on {}", mount_point);
    } else {
        // Room for the directories leading to each bound one, then sealed read-only.
        if (::mount("xenvhost-root", mount_point.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    "size=16k,nr_inodes=256,mode=0755") < 0)
            return fail_errno("mount a tmpfs on {}", mount_point);
        for (const auto& dir : reachable)
            if (auto r = bind_read_only(mount_point, dir); !r) return r;
        if (::mount(nullptr, mount_point.c_str(), nullptr, MS_REMOUNT | kLocked, nullptr) < 0)
            return fail_errno("make the root at {} read-only", mount_point);
    }
    if (::chdir(mount_point.c_str()) < 0) return fail_errno("chdir {}", mount_point);
    if (::chroot(".") < 0) return fail_errno("chroot {}", mount_point);
    if (::chdir("/") < 0) return fail_errno("chdir / in the sandbox root");
    return {};
}

}  // namespace xenvhost::sandbox
