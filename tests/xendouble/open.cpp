// libc open() with the Xen device nodes stood in for, as stat() has them
// (stat.cpp): a device model under the double opens /dev/xen/privcmd and
// /dev/xen/gntdev by their real paths to send with its memory tables, and
// gets /dev/zero and /dev/null, which the worker's check accepts.

#include <fcntl.h>

#include <cstdarg>
#include <cstring>

namespace {

const char* stand_in(const char* path) {
    if (path && std::strcmp(path, "/dev/xen/gntdev") == 0) return "/dev/null";
    if (path && std::strcmp(path, "/dev/xen/privcmd") == 0) return "/dev/zero";
    return path;
}

mode_t mode_of(int flags, va_list ap) {
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_of(flags, ap);
    va_end(ap);
    return ::openat(AT_FDCWD, stand_in(path), flags, mode);
}

int open64(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_of(flags, ap);
    va_end(ap);
    return ::openat(AT_FDCWD, stand_in(path), flags, mode);
}

}  // extern "C"
