#pragma once
// Recognises the gntdev and privcmd character devices in fds a front-end sends
// with Xen regions. The worker never uses those fds (it has its own library
// handles); it checks them so a confused front-end is caught early.

#include "base/error.hpp"

namespace xenvhost::xen {

enum class XenDevice { kGntdev, kPrivcmd };

Result<> check_device_fd(int fd, XenDevice expected);

// Reads the devices' numbers now, for check_device_fd: a process that drops
// its privileges (an empty root) calls it before the drop.
void remember_xen_devices();

}  // namespace xenvhost::xen
