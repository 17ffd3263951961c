#pragma once
// The worker's command line, following the vhost-user back-end program conventions.

#include "base/error.hpp"
#include "base/log.hpp"
#include "control/device_spec.hpp"
#include "memory/grant_access.hpp"
#include "sandbox/identity.hpp"

#include <optional>
#include <string>
#include <vector>

namespace xenvhost::worker {

struct WorkerOptions {
    bool help = false;
    bool version = false;
    bool print_capabilities = false;
    std::string help_text;
    std::vector<control::DeviceSpec> devices;
    std::optional<uint32_t> domid;  // the Xen guest served
    bool foreign_map_whole = true;  // --foreign-map whole | per-request
    memory::GrantAccess grant_access = memory::GrantAccess::kAuto;  // --grant-access
    bool verify_guest_writes = false;  // --verify-guest-writes (diagnostics)
    bool xen = false;
    std::string control_socket;
    // --sandbox-user UID:GID and --sandbox-root DIR: the drop made once
    // everything is open (sandbox/sandbox.hpp); xenvhostd gives both.
    std::optional<sandbox::Identity> sandbox_user;
    std::string sandbox_root;
    log::Level log_level = log::Level::kInfo;
};

Result<WorkerOptions> parse_worker_options(int argc, char** argv);

}  // namespace xenvhost::worker
