#pragma once
// The process's private view of the file system: a mount namespace of its
// own whose root is a read-only tmpfs. Everything it serves was opened
// before (images and sockets as fds), so after this no path leads anywhere:
// not /dev/xen, not another guest's image or socket. A process that must
// reach a few directories later (the device model reconnecting to its
// back-ends' sockets) gets those bound in at the same paths, read-only,
// and nothing else.

#include "base/error.hpp"

#include <span>
#include <string>

namespace xenvhost::sandbox {

// `mount_point` is an existing directory (xenvhostd gives each guest one);
// the tmpfs is mounted on it in the new namespace only. Each of `reachable`
// (absolute directories) is bound at its own path inside. Needs
// CAP_SYS_ADMIN and CAP_SYS_CHROOT: call before the credentials drop.
Result<> enter_private_root(const std::string& mount_point, std::span<const std::string> reachable = {});

}  // namespace xenvhost::sandbox
