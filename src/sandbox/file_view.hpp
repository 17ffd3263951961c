#pragma once
// The process's private view of the file system: a mount namespace of its
// own whose root is an empty, read-only tmpfs. Everything it serves was
// opened before (images and sockets as fds), so after this no path leads
// anywhere: not /dev/xen, not another guest's image or socket.

#include "base/error.hpp"

#include <string>

namespace xenvhost::sandbox {

// `mount_point` is an existing directory (xenvhostd gives each guest one);
// the tmpfs is mounted on it in the new namespace only. Needs
// CAP_SYS_ADMIN and CAP_SYS_CHROOT: call before the credentials drop.
Result<> enter_empty_root(const std::string& mount_point);

}  // namespace xenvhost::sandbox
