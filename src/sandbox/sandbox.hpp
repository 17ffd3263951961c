#pragma once
// The drop a process serving one guest makes once it holds everything it
// needs (Xen handles, sockets, images as fds; privcmd restricted to the
// guest when it was opened): a private root (empty, or holding only the
// directories it must reach) and an empty network, the guest's uid and gid without groups or
// capabilities, no_new_privs and no core dumps, then the syscall filter.
// Each step in its own file; this is the order they must come in.

#include "base/error.hpp"
#include "sandbox/allowlists.hpp"
#include "sandbox/identity.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace xenvhost::sandbox {

struct Plan {
    Identity identity;
    std::string root;               // mount point of the private root (sandbox/file_view.hpp)
    std::optional<uint32_t> domid;  // the guest its Xen handles are restricted to (for the log)
    Allowlist allowlist;            // sandbox/allowlists.hpp
    std::span<const std::string> reachable = {};  // directories bound into the root, at their paths
};

Result<> enter(const Plan& plan);

// "UID:GID" as given on a guest process's command line by xenvhostd.
Result<Identity> parse_identity(std::string_view text);

}  // namespace xenvhost::sandbox
