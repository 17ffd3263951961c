#include "backend_set.hpp"

#include <algorithm>

namespace xenvhost::bench {

namespace {

constexpr const char* kNeedsRoot =
    "sandboxed needs root (the worker's --sandbox-user unshares namespaces, chroots and changes uid)";

}  // namespace

Result<std::vector<std::string>> parse_backends(const std::string& text) {
    std::vector<std::string> out;
    size_t pos = 0;
    for (;;) {
        const size_t comma = text.find(',', pos);
        std::string name = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (std::find(kAllBackends.begin(), kAllBackends.end(), name) == kAllBackends.end())
            return fail("'{}' is not a back-end: give worker, uring, sandboxed, null and/or qsd, comma-separated",
                        name);
        if (std::find(out.begin(), out.end(), name) != out.end()) return fail("'{}' is given twice", name);
        out.push_back(std::move(name));
        if (comma == std::string::npos) return out;
        pos = comma + 1;
    }
}

Result<BackendSet> choose_backends(const std::vector<std::string>& requested, bool root) {
    BackendSet set;
    if (!requested.empty()) {
        if (!root && std::find(requested.begin(), requested.end(), "sandboxed") != requested.end())
            return fail("{}; run the bench as root or leave sandboxed out of --only", kNeedsRoot);
        set.names = requested;
        return set;
    }
    for (const auto& name : kAllBackends) {
        if (name == "sandboxed" && !root)
            set.skipped.push_back(std::string(kNeedsRoot) + ": skipped, as the bench is not root");
        else
            set.names.push_back(name);
    }
    return set;
}

}  // namespace xenvhost::bench
