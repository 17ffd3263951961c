#include "daemon/discovery.hpp"

#include "base/log.hpp"
#include "daemon/device_entry.hpp"
#include "daemon/status_publisher.hpp"

#include <climits>

namespace xenvhost::daemon {
namespace {
constexpr const char* kTokenDevices = "devices";
constexpr const char* kTokenRelease = "release";
// Keys whose change can change what happens to a known device.
bool is_relevant_key(DeviceKind kind, std::string_view rest) {
    if (rest.empty() || rest == "state" || rest == "online") return true;
    for (auto k : entry_keys(kind))
        if (k == rest) return true;
    return false;
}
}  // namespace

void DiscoveryBatch::merge(DiscoveryBatch&& other) {
    devices.merge(other.devices);
    minor.merge(other.minor);
    malformed.merge(other.malformed);
    release_domain = release_domain || other.release_domain;
    rescanned_kinds.merge(other.rescanned_kinds);
    rescanned_guests.merge(other.rescanned_guests);
}

Result<> Discovery::watch() {
    for (DeviceKind kind : kAllKinds)
        if (auto r = xs_.watch(backend_root(self_, kind), kTokenDevices); !r) return r;
    return xs_.watch(kReleaseDomain, kTokenRelease);
}

void Discovery::add_device(DeviceKind kind, const std::string& domid, const std::string& devid,
                           DiscoveryBatch& out, bool minor) const {
    std::string dir = fmt::format("{}/{}/{}", backend_root(self_, kind), domid, devid);
    auto d = parse_id(domid, kMaxDomid);
    if (!d) {
        out.malformed[dir] = fmt::format("guest domid in the path: {}", d.error().message);
        return;
    }
    auto id = parse_id(devid, INT_MAX);
    if (!id) {
        out.malformed[dir] = fmt::format("devid in the path: {}", id.error().message);
        return;
    }
    if (minor) out.minor.insert(DeviceKey{kind, *d, *id});
    else out.devices.insert(DeviceKey{kind, *d, *id});
}

Result<> Discovery::scan_guest(DeviceKind kind, const std::string& domid, DiscoveryBatch& out) const {
    auto devids = xs_.directory(fmt::format("{}/{}", backend_root(self_, kind), domid));
    if (!devids) return std::unexpected(devids.error());
    if (!*devids) return {};
    for (auto& devid : **devids) add_device(kind, domid, devid, out);
    return {};
}

Result<> Discovery::scan_kind(DeviceKind kind, DiscoveryBatch& out) const {
    auto domids = xs_.directory(backend_root(self_, kind));
    if (!domids) return std::unexpected(domids.error());
    if (!*domids) return {};
    for (auto& domid : **domids)
        if (auto r = scan_guest(kind, domid, out); !r) return r;
    return {};
}

Result<DiscoveryBatch> Discovery::scan() const {
    DiscoveryBatch out;
    for (DeviceKind kind : kAllKinds) {
        if (auto r = scan_kind(kind, out); !r) return std::unexpected(r.error());
        out.rescanned_kinds.insert(kind);
    }
    return out;
}

Result<DiscoveryBatch> Discovery::drain() const {
    DiscoveryBatch out;
    std::set<DeviceKind> kinds_to_scan;
    std::set<std::pair<DeviceKind, std::string>> guests_to_scan;
    while (auto ev = xs_.next_event()) {
        if (ev->token == kTokenRelease) {
            out.release_domain = true;
            continue;
        }
        auto ref = classify_path(self_, ev->path);
        if (!ref) {
            log::debug("xenstore event outside our roots: {}", ev->path);
            continue;
        }
        if (!ref->domid) kinds_to_scan.insert(ref->kind);
        else if (!ref->devid) guests_to_scan.emplace(ref->kind, *ref->domid);
        else if (!ref->rest.empty() && is_own_key(ref->rest)) continue;
        else add_device(ref->kind, *ref->domid, *ref->devid, out, !is_relevant_key(ref->kind, ref->rest));
    }
    for (auto& key : out.devices) out.minor.erase(key);
    for (DeviceKind kind : kinds_to_scan) {
        if (auto r = scan_kind(kind, out); !r) return std::unexpected(r.error());
        out.rescanned_kinds.insert(kind);
    }
    for (auto& [kind, domid] : guests_to_scan) {
        if (kinds_to_scan.contains(kind)) continue;
        if (auto r = scan_guest(kind, domid, out); !r) return std::unexpected(r.error());
        if (auto d = parse_id(domid, kMaxDomid)) out.rescanned_guests.emplace(kind, *d);
    }
    return out;
}

}  // namespace xenvhost::daemon
