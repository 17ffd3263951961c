#include "sandbox/sandbox.hpp"

#include "base/log.hpp"
#include "sandbox/credentials.hpp"
#include "sandbox/file_view.hpp"
#include "sandbox/network_view.hpp"
#include "sandbox/process_limits.hpp"
#include "sandbox/syscall_filter.hpp"

#include <fmt/ranges.h>

#include <charconv>

namespace xenvhost::sandbox {

Result<> enter(const Plan& plan) {
    // Root-only steps first: each later step takes away what the earlier
    // ones need. The Xen handles were restricted when they were opened
    // (memory/xen_handles.cpp: privcmd to the guest; the device model's in
    // device_model/guest_device_model.cpp). Not here with
    // xentoolcore_restrict_all: Xen cannot restrict a gntdev handle, and
    // xentoolcore makes such a handle unusable (dup2 of /dev/null over it),
    // which ended every grant mapping.
    if (auto r = enter_private_root(plan.root, plan.reachable); !r) return r;
    if (auto r = enter_empty_network(); !r) return r;
    if (auto r = drop_credentials(plan.identity); !r) return r;
    if (auto r = limit_process(); !r) return r;
    if (auto r = install_syscall_filter(plan.allowlist); !r) return r;
    std::string root = "empty root";
    if (!plan.reachable.empty()) root = fmt::format("root holding only {}", fmt::join(plan.reachable, ", "));
    log::info("deprivileged: uid {} gid {}, no capabilities, no_new_privs, syscall filter, {}, empty network{}",
              plan.identity.uid, plan.identity.gid, root,
              plan.domid ? fmt::format(", Xen handles restricted to domain {}", *plan.domid) : std::string());
    return {};
}

Result<Identity> parse_identity(std::string_view text) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos) return fail("'{}' is not UID:GID", text);
    auto number = [](std::string_view s) -> std::optional<uint32_t> {
        uint32_t n = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec != std::errc() || p != s.data() + s.size() || n == 0 || n == UINT32_MAX) return std::nullopt;
        return n;
    };
    auto uid = number(text.substr(0, colon)), gid = number(text.substr(colon + 1));
    if (!uid || !gid) return fail("'{}' is not UID:GID with both above 0 (root is never a guest's identity)", text);
    return Identity{*uid, *gid};
}

}  // namespace xenvhost::sandbox
