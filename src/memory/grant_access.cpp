#include "memory/grant_access.hpp"

namespace xenvhost::memory {

GrantAccess resolve_grant_access(GrantAccess mode, uint64_t bytes) {
    switch (mode) {
    case GrantAccess::kAuto: return bytes <= kAutoCopyMaxBytes ? GrantAccess::kCopy : GrantAccess::kMap;
    case GrantAccess::kCopy: return bytes <= kCopyMaxBytes ? GrantAccess::kCopy : GrantAccess::kMap;
    case GrantAccess::kMap:
    case GrantAccess::kPerAccess: break;
    }
    return mode;
}

std::string_view grant_access_name(GrantAccess mode) {
    switch (mode) {
    case GrantAccess::kAuto: return "auto";
    case GrantAccess::kMap: return "map";
    case GrantAccess::kPerAccess: return "per-access";
    case GrantAccess::kCopy: return "copy";
    }
    return "?";
}

Result<GrantAccess> parse_grant_access(std::string_view text) {
    for (auto m : {GrantAccess::kAuto, GrantAccess::kMap, GrantAccess::kPerAccess, GrantAccess::kCopy})
        if (text == grant_access_name(m)) return m;
    return fail("'{}' is none of auto, map, per-access, copy", text);
}

}  // namespace xenvhost::memory
