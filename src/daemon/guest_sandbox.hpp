#pragma once
// Whom the processes serving one guest run as, and the arguments that tell
// them. The guest's worker and its device model share the identity (one per
// domain, as Xen gives QEMU one): the same uid owns the guest's sockets, so
// its device model may connect to them and no other guest's may.

#include "base/error.hpp"
#include "daemon/options.hpp"
#include "sandbox/identity.hpp"

#include <optional>
#include <string>
#include <vector>

namespace xenvhost::daemon {

// The guest's identity; nullopt when the daemon is not root (it has nothing
// to give away) or the configuration lets the guest's processes run as root.
// An error when neither user exists and root is not allowed.
Result<std::optional<sandbox::Identity>> guest_identity(const Options& options, unsigned domid);

// --sandbox-user UID:GID --sandbox-root ROOT for `program` ("worker",
// "device model"), ROOT created (mode 0555) if missing; none when it runs
// as root; an error saying why it may not start otherwise.
Result<std::vector<std::string>> sandbox_arguments(const Options& options, unsigned domid, const std::string& program,
                                                   const std::string& root);

// The guest's directory of sockets: root's, its group the guest's (mode
// 0750), so that guest's processes may pass through it and no other's.
Result<> give_guest_directory(const std::string& dir, const std::optional<sandbox::Identity>& who);

// A socket the guest's device model connects to: owned by the guest's uid
// and gid, mode 0600 (connecting needs write permission; root needs none).
Result<> give_guest_socket(const std::string& path, const std::optional<sandbox::Identity>& who);

}  // namespace xenvhost::daemon
