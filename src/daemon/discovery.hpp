#pragma once
// Finding devices in xenstore: the watches on this domain's two backend
// roots and @releaseDomain, turning queued watch events into the set of
// device directories to look at, and full scans.

#include "base/error.hpp"
#include "daemon/backend_path.hpp"
#include "xen/xenstore.hpp"

#include <map>
#include <set>
#include <string>

namespace xenvhost::daemon {

struct DiscoveryBatch {
    std::set<DeviceKey> devices;
    // Devices touched only through keys that cannot change what the daemon
    // does with a device it already knows (e.g. "bootable"): worth a look
    // only if the daemon has not seen the device yet.
    std::set<DeviceKey> minor;
    // Directories whose domid or devid is not a number: dir → reason.
    std::map<std::string, std::string> malformed;
    bool release_domain = false;
    // Scopes listed again because an event touched a directory above a device:
    // devices known there but no longer listed must be looked at too.
    std::set<DeviceKind> rescanned_kinds;
    std::set<std::pair<DeviceKind, unsigned>> rescanned_guests;
    void merge(DiscoveryBatch&& other);
};

class Discovery {
public:
    Discovery(const xen::Xenstore& xs, unsigned self) : xs_(xs), self_(self) {}

    Result<> watch();
    // Everything under both roots now.
    Result<DiscoveryBatch> scan() const;
    // Every queued watch event, without blocking.
    Result<DiscoveryBatch> drain() const;

private:
    Result<> scan_kind(DeviceKind kind, DiscoveryBatch& out) const;
    Result<> scan_guest(DeviceKind kind, const std::string& domid, DiscoveryBatch& out) const;
    void add_device(DeviceKind kind, const std::string& domid, const std::string& devid, DiscoveryBatch& out,
                    bool minor = false) const;

    const xen::Xenstore& xs_;
    unsigned self_;
};

inline constexpr const char* kReleaseDomain = "@releaseDomain";
// Guest domids are below DOMID_FIRST_RESERVED (0x7ff0).
inline constexpr unsigned kMaxDomid = 0x7fef;

}  // namespace xenvhost::daemon
