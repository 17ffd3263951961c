#pragma once
// Which uid and gid a guest's processes run as. Xen's device-model
// deprivilege convention: a range whose base is a user (or a number), the
// guest's uid and gid being the base's plus the domid, so no two guests share
// one and a restarted process gets the same; a single dedicated user as the
// fallback; root only when the configuration says so.

#include "base/error.hpp"

#include <sys/types.h>

#include <optional>
#include <string>

namespace xenvhost::sandbox {

struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
    bool operator==(const Identity&) const = default;
};

// Where a guest's identity comes from. A user is a name from the passwd
// database or "UID[:GID]" (gid defaults to the uid), so a range needs no
// passwd entry per guest.
struct IdentityPolicy {
    std::string range_base = "xenvhost-range-base";
    std::string shared_user = "xenvhost";
    bool run_as_root = false;  // neither exists: run as root instead of refusing
};

// The range's size: every domid a guest can have.
inline constexpr unsigned kMaxGuestDomid = 0x7fef;

// A user given as a name or "UID[:GID]"; nullopt when the name is unknown.
// Numbers must not be 0 (root is never a guest's identity).
Result<std::optional<Identity>> lookup_user(const std::string& user);

// The guest's identity, nullopt when it is to run as root (policy allows it
// and no user exists), or an error naming what is missing.
Result<std::optional<Identity>> identity_for(const IdentityPolicy& policy, unsigned domid);

// Checks the syntax of a user given in the configuration (names are looked
// up only when a guest starts: the users may be created later).
Result<> check_user_syntax(const std::string& user);

}  // namespace xenvhost::sandbox
