#include "daemon/backend_path.hpp"

#include <fmt/format.h>

#include <charconv>

namespace xenvhost::daemon {

std::string_view kind_name(DeviceKind kind) {
    return kind == DeviceKind::kVirtioDisk ? "virtio_disk" : "virtio";
}

std::string DeviceKey::name() const { return fmt::format("{}-{}", kind_name(kind), devid); }
std::string DeviceKey::label() const { return fmt::format("dom{} {}/{}", domid, kind_name(kind), devid); }

std::string backend_root(unsigned self, DeviceKind kind) {
    return fmt::format("/local/domain/{}/backend/{}", self, kind_name(kind));
}
std::string guest_dir(unsigned self, DeviceKind kind, unsigned domid) {
    return fmt::format("{}/{}", backend_root(self, kind), domid);
}
std::string device_dir(unsigned self, const DeviceKey& key) {
    return fmt::format("{}/{}", guest_dir(self, key.kind, key.domid), key.devid);
}

std::optional<PathRef> classify_path(unsigned self, std::string_view path) {
    for (DeviceKind kind : kAllKinds) {
        std::string root = backend_root(self, kind);
        if (!path.starts_with(root)) continue;
        std::string_view rest = path.substr(root.size());
        if (!rest.empty() && rest[0] != '/') continue;  // e.g. ".../virtio_disk" vs ".../virtio"
        PathRef ref{kind, std::nullopt, std::nullopt, {}};
        if (rest.empty()) return ref;
        rest.remove_prefix(1);
        size_t slash = rest.find('/');
        ref.domid = std::string(rest.substr(0, slash));
        if (slash == std::string_view::npos) return ref;
        rest.remove_prefix(slash + 1);
        slash = rest.find('/');
        ref.devid = std::string(rest.substr(0, slash));
        if (slash != std::string_view::npos) ref.rest = std::string(rest.substr(slash + 1));
        return ref;
    }
    return std::nullopt;
}

Result<unsigned> parse_id(std::string_view text, unsigned max) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
    bool ok = !text.empty() && ec == std::errc() && ptr == text.data() + text.size() && value <= max &&
              (text.size() == 1 || text[0] != '0');
    if (!ok) return fail("'{}' is not a decimal number in 0..{}", text, max);
    return value;
}

Result<uint64_t> parse_number(std::string_view text) {
    int base = 10;
    std::string_view digits = text;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
        base = 16;
        digits.remove_prefix(2);
    } else if (digits.size() > 1 && digits[0] == '0') {
        base = 8;
        digits.remove_prefix(1);
    }
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size())
        return fail("'{}' is not a number", text);
    return value;
}

}  // namespace xenvhost::daemon
