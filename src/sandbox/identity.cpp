#include "sandbox/identity.hpp"

#include <pwd.h>

#include <cctype>
#include <charconv>
#include <limits>
#include <vector>

namespace xenvhost::sandbox {
namespace {

constexpr uint64_t kMaxId = std::numeric_limits<uid_t>::max() - 1;  // -1 means "unchanged" to setresuid

Result<uint64_t> parse_id(std::string_view text, std::string_view what) {
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || p != text.data() + text.size() || n > kMaxId)
        return fail("{} '{}' is not a number up to {}", what, text, kMaxId);
    if (n == 0) return fail("{} 0 is root, never a guest's identity", what);
    return n;
}

bool is_numeric(const std::string& user) { return !user.empty() && user[0] >= '0' && user[0] <= '9'; }

// What useradd accepts, roughly: no option-like or empty names, no blanks.
Result<> check_name(const std::string& user) {
    if (user.empty() || !(std::isalpha(static_cast<unsigned char>(user[0])) || user[0] == '_'))
        return fail("user '{}' is neither a user name nor UID[:GID]", user);
    for (char c : user)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
            return fail("user '{}' is neither a user name nor UID[:GID]", user);
    return {};
}

}  // namespace

Result<> check_user_syntax(const std::string& user) {
    if (user.empty()) return fail("empty user");
    if (!is_numeric(user)) return check_name(user);
    if (auto r = lookup_user(user); !r) return std::unexpected(r.error());
    return {};
}

Result<std::optional<Identity>> lookup_user(const std::string& user) {
    if (is_numeric(user)) {
        auto colon = user.find(':');
        auto uid = parse_id(std::string_view(user).substr(0, colon), "uid");
        if (!uid) return std::unexpected(uid.error());
        uint64_t gid = *uid;
        if (colon != std::string::npos) {
            auto g = parse_id(std::string_view(user).substr(colon + 1), "gid");
            if (!g) return std::unexpected(g.error());
            gid = *g;
        }
        return Identity{static_cast<uid_t>(*uid), static_cast<gid_t>(gid)};
    }
    if (auto r = check_name(user); !r) return std::unexpected(r.error());
    passwd pw{}, *found = nullptr;
    std::vector<char> buf(16384);
    int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 && rc != ENOENT && rc != ESRCH) return fail("cannot look up user {}: {}", user, std::strerror(rc));
    if (!found) return std::optional<Identity>();
    if (pw.pw_uid == 0 || pw.pw_gid == 0) return fail("user {} has uid or gid 0: never a guest's identity", user);
    return Identity{pw.pw_uid, pw.pw_gid};
}

Result<std::optional<Identity>> identity_for(const IdentityPolicy& policy, unsigned domid) {
    if (domid == 0 || domid > kMaxGuestDomid) return fail("domid {} is not a guest's", domid);
    if (!policy.range_base.empty()) {
        auto base = lookup_user(policy.range_base);
        if (!base) return fail("guest-uid-range-base: {}", base.error().message);
        if (*base) {
            if ((*base)->uid > kMaxId - kMaxGuestDomid || (*base)->gid > kMaxId - kMaxGuestDomid)
                return fail("guest-uid-range-base {} leaves no room for domid {}", policy.range_base, domid);
            return Identity{(*base)->uid + domid, (*base)->gid + domid};
        }
    }
    if (!policy.shared_user.empty()) {
        auto shared = lookup_user(policy.shared_user);
        if (!shared) return fail("guest-user: {}", shared.error().message);
        if (*shared) return *shared;
    }
    if (policy.run_as_root) return std::optional<Identity>();
    return fail("no user to run the guest's processes as (neither the range base '{}' nor the user '{}' exists); "
                "create them (the package's sysusers.d file does) or set run-as-root = yes",
                policy.range_base, policy.shared_user);
}

}  // namespace xenvhost::sandbox
