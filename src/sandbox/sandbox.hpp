#pragma once
// The drop a process serving one guest makes once it holds everything it
// needs (Xen handles, sockets, images as fds; privcmd restricted to the
// guest when it was opened): an empty private root and network, the guest's uid and gid without groups or
// capabilities, no_new_privs and no core dumps, then the syscall filter.
// Each step in its own file; this is the order they must come in.

#include "base/error.hpp"
#include "sandbox/identity.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace xenvhost::sandbox {

struct Plan {
    Identity identity;
    std::string root;               // mount point of the empty root (sandbox/file_view.hpp)
    std::optional<uint32_t> domid;  // the guest its privcmd handle is restricted to (for the log)
    std::span<const std::string_view> extra_syscalls;
};

Result<> enter(const Plan& plan);

// "UID:GID" as given on a guest process's command line by xenvhostd.
Result<Identity> parse_identity(std::string_view text);

}  // namespace xenvhost::sandbox
