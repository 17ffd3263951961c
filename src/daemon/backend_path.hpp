#pragma once
// Names of the xenstore nodes the daemon serves: which device a watch event
// path refers to, and the paths and names derived from a device's identity.

#include "base/error.hpp"

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace xenvhost::daemon {

enum class DeviceKind { kVirtioDisk, kVirtio };
inline constexpr DeviceKind kAllKinds[] = {DeviceKind::kVirtioDisk, DeviceKind::kVirtio};

std::string_view kind_name(DeviceKind kind);

struct DeviceKey {
    DeviceKind kind;
    unsigned domid;  // the guest (front-end) domain
    unsigned devid;
    auto operator<=>(const DeviceKey&) const = default;

    // Unique within a guest's worker and used for the socket name: "virtio_disk-51712".
    std::string name() const;
    // "dom5 virtio_disk/51712", for log lines.
    std::string label() const;
};

std::string backend_root(unsigned self, DeviceKind kind);       // /local/domain/B/backend/<kind>
std::string guest_dir(unsigned self, DeviceKind kind, unsigned domid);
std::string device_dir(unsigned self, const DeviceKey& key);

// What a path at or under /local/domain/<self>/backend/<kind> refers to. The
// domid and devid components are kept as text: a malformed one is reported
// on that directory, not dropped silently.
struct PathRef {
    DeviceKind kind;
    std::optional<std::string> domid;
    std::optional<std::string> devid;
    std::string rest;  // below the device dir, e.g. "state"; empty at or above it
};
std::optional<PathRef> classify_path(unsigned self, std::string_view path);

// Strict decimal id (domid or devid): digits only, no sign or leading zeros.
Result<unsigned> parse_id(std::string_view text, unsigned max);

// Unsigned number with base auto-detection as libxl's readers do (0x hex,
// leading-0 octal, else decimal); the whole text must be consumed.
Result<uint64_t> parse_number(std::string_view text);

}  // namespace xenvhost::daemon
