#include "daemon/guest_sandbox.hpp"

#include "base/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

namespace xenvhost::daemon {

Result<std::optional<sandbox::Identity>> guest_identity(const Options& options, unsigned domid) {
    if (::geteuid() != 0) return std::optional<sandbox::Identity>();
    // Derived from the domid alone: a restart gets the same identity.
    return sandbox::identity_for(options.identity, domid);
}

Result<std::vector<std::string>> sandbox_arguments(const Options& options, unsigned domid, const std::string& program,
                                                   const std::string& root) {
    if (::geteuid() != 0) return std::vector<std::string>{};
    auto who = guest_identity(options, domid);
    if (!who) return fail("dom{}: refusing to start its {} as root: {}", domid, program, who.error().message);
    if (!*who) {
        log::warn("dom{}: its {} runs as root (run-as-root = yes and no guest user exists)", domid, program);
        return std::vector<std::string>{};
    }
    // The mount point of the process's private root; it sees nothing else.
    if (::mkdir(root.c_str(), 0555) < 0 && errno != EEXIST) return fail_errno("mkdir {}", root);
    return std::vector<std::string>{"--sandbox-user", fmt::format("{}:{}", (*who)->uid, (*who)->gid), "--sandbox-root",
                                    root};
}

Result<> give_guest_directory(const std::string& dir, const std::optional<sandbox::Identity>& who) {
    if (!who) return {};
    if (::chown(dir.c_str(), 0, who->gid) < 0) return fail_errno("chown {} to group {}", dir, who->gid);
    if (::chmod(dir.c_str(), 0750) < 0) return fail_errno("chmod {}", dir);
    return {};
}

Result<> give_guest_socket(const std::string& path, const std::optional<sandbox::Identity>& who) {
    if (!who) return {};
    if (::chown(path.c_str(), who->uid, who->gid) < 0)
        return fail_errno("chown {} to {}:{}", path, who->uid, who->gid);
    if (::chmod(path.c_str(), 0600) < 0) return fail_errno("chmod {}", path);
    return {};
}

}  // namespace xenvhost::daemon
