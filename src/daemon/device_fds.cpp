#include "daemon/device_fds.hpp"

#include "base/unix_listener.hpp"
#include "daemon/guest_sandbox.hpp"

#include <fcntl.h>

namespace xenvhost::daemon {

Result<DeviceFds> open_device_fds(const control::DeviceSpec& spec, const std::optional<sandbox::Identity>& owner) {
    DeviceFds fds;
    // O_NONBLOCK would only matter for a FIFO, which the worker refuses anyway.
    fds.image.reset(::open(spec.blk_file.c_str(), (spec.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY));
    if (!fds.image)
        return fail_errno("device {}: open '{}' {}", spec.name, spec.blk_file, spec.read_only ? "read-only" : "read-write");
    auto sock = listen_unix(spec.socket_path);
    if (!sock) return fail("device {}: {}", spec.name, sock.error().message);
    fds.socket = std::move(*sock);
    if (auto r = give_guest_socket(spec.socket_path, owner); !r) return fail("device {}: {}", spec.name, r.error().message);
    return fds;
}

}  // namespace xenvhost::daemon
