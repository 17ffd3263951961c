#pragma once
// A device directory as libxl writes it, parsed into what the worker needs.
// Any key that makes the device unservable yields a readable reason, which
// the daemon publishes as the device's error key.

#include "base/error.hpp"
#include "daemon/backend_path.hpp"
#include "daemon/external_backend.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace xenvhost::daemon {

struct DeviceEntry {
    DeviceKey key;
    std::string image;  // params
    bool read_only = false;
    bool cdrom = false;
    bool discard = false;
    std::optional<bool> grant_usage;  // absent before Xen 4.19 for disks
    uint64_t base = 0;                // virtio-mmio window, 0 on x86
    uint64_t irq = 0;
    std::string serial;  // the vdev ("xvda") for disks
    uint32_t virtio_id = 2;  // from a generic device's type; disks are block
    // The operator's back-end's socket for this guest; empty: our worker
    // serves the device (and `image` is set).
    std::string external_socket;
};

// The backend keys the parser looks at, per kind.
std::span<const std::string_view> entry_keys(DeviceKind kind);

using KeyValues = std::map<std::string, std::string, std::less<>>;

// A generic device is served by its type's external back-end when
// `external` has one, else by the worker if it is block (virtio,device2).
Result<DeviceEntry> parse_entry(const DeviceKey& key, const KeyValues& values, const ExternalBackends& external = {});

// The checks that need the filesystem (nothing for an external back-end's
// device, whose socket is checked on its own): the image exists, is a regular file or
// block device, and can be opened with the mode asked for.
Result<> check_image(const DeviceEntry& entry);

}  // namespace xenvhost::daemon
