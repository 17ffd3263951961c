// libc stat() with the Xen device nodes stood in for: /dev/xen/gntdev is
// /dev/null and /dev/xen/privcmd is /dev/zero, so the worker's check that a
// region fd is the right device (fstat st_rdev against stat of the node)
// accepts the fds the test front-end sends and refuses the others.

#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>

namespace {

const char* stand_in(const char* path) {
    if (path && std::strcmp(path, "/dev/xen/gntdev") == 0) return "/dev/null";
    if (path && std::strcmp(path, "/dev/xen/privcmd") == 0) return "/dev/zero";
    return path;
}

}  // namespace

extern "C" {

int stat(const char* __restrict path, struct stat* __restrict buf) noexcept {
    return ::fstatat(AT_FDCWD, stand_in(path), buf, 0);
}

int stat64(const char* __restrict path, struct stat64* __restrict buf) noexcept {
    return ::fstatat64(AT_FDCWD, stand_in(path), buf, 0);
}

}  // extern "C"
