#pragma once
// Writes the daemon's keys into device directories: the xenbus state and the
// status keys an operator reads. Each update is one transaction that first
// checks the directory still exists (a plain write would recreate a directory
// the toolstack just removed), and keys whose value did not change are not
// written again, so our own watch events stay few.

#include "base/error.hpp"
#include "xen/xenstore.hpp"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace xenvhost::daemon {

// Status keys (documented in xenstore/README.md).
inline constexpr const char* kKeySocket = "vhost-user-socket";
inline constexpr const char* kKeyWorkerPid = "xenvhost-worker-pid";
inline constexpr const char* kKeyConnected = "xenvhost-connected";
inline constexpr const char* kKeyMapping = "xenvhost-mapping";
// How the worker reaches grant buffers (--grant-access), and its request,
// map and grant copy counters as of the device's last event (a front-end
// connecting or going away): "requests=N map-calls=N unmap-calls=N
// copy-calls=N copy-segments=N copy-failures=N".
inline constexpr const char* kKeyGrantAccess = "xenvhost-grant-access";
inline constexpr const char* kKeyCounters = "xenvhost-counters";
inline constexpr const char* kKeyRestarts = "xenvhost-restarts";
inline constexpr const char* kKeyError = "xenvhost-error";
// Where the guest's driver finds the device ("pci 0000:00:10.0 intx A",
// "mmio 0x2000000 irq 33"), or why it has no transport.
inline constexpr const char* kKeyTransport = "xenvhost-transport";
inline constexpr const char* kKeyModelPid = "xenvhost-dm-pid";
// "external <socket>" when the operator's own back-end serves the device.
inline constexpr const char* kKeyBackend = "xenvhost-backend";

// True for the keys the daemon itself writes (their watch events need no work).
bool is_own_key(std::string_view key);

struct StatusUpdate {
    std::vector<std::pair<std::string, std::optional<std::string>>> keys;  // nullopt: remove the key
    // Write `state` = second only if it currently reads first (nullopt: whatever it reads).
    std::optional<std::pair<std::optional<unsigned>, unsigned>> state;

    StatusUpdate& set(std::string key, std::string value) {
        keys.emplace_back(std::move(key), std::move(value));
        return *this;
    }
    StatusUpdate& erase(std::string key) {
        keys.emplace_back(std::move(key), std::nullopt);
        return *this;
    }
};

class StatusPublisher {
public:
    explicit StatusPublisher(const xen::Xenstore& xs) : xs_(xs) {}
    // false: the directory is gone (nothing written).
    Result<bool> apply(const std::string& dir, const StatusUpdate& update);
    // The toolstack rewrote the directory: our keys there are gone.
    void forget(const std::string& dir) { cache_.erase(dir); }

private:
    const xen::Xenstore& xs_;
    std::map<std::string, std::map<std::string, std::optional<std::string>>> cache_;
};

}  // namespace xenvhost::daemon
