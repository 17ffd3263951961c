#pragma once
// What xenvhostd opens for a device before handing it to the guest's worker:
// the image and the listening vhost-user socket. A deprivileged worker can
// open neither itself (its uid, its empty root and its syscall filter say
// no), and a worker restart gets them anew through the same call.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "control/device_spec.hpp"
#include "sandbox/identity.hpp"

#include <optional>

namespace xenvhost::daemon {

struct DeviceFds {
    UniqueFd image;
    UniqueFd socket;
};

// Opens spec.blk_file (read-only or read-write, as the spec says) and binds
// a listening socket at spec.socket_path (a stale socket there is replaced),
// owned by `owner` when given: the guest's device model connects to it as
// the guest's uid (daemon/guest_sandbox.hpp).
Result<DeviceFds> open_device_fds(const control::DeviceSpec& spec, const std::optional<sandbox::Identity>& owner);

}  // namespace xenvhost::daemon
