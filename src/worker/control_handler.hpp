#pragma once
// What the worker's control channel (used by xenvhostd) can ask of the worker.
// Implemented by the worker's device host; called on the worker's main loop.

#include "base/error.hpp"
#include "worker/device_spec.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xenvhost::worker {

struct DeviceStatus {
    std::string name;
    std::string socket_path;
    bool connected = false;        // a front-end is connected to the device's socket
    std::string mapping = "none";  // "mmap", "grant", "foreign" or "none" (no memory table yet)
    uint64_t requests = 0;         // requests completed
    uint64_t map_calls = 0;
    uint64_t unmap_calls = 0;
    uint64_t pages_mapped = 0;
    uint64_t map_failures = 0;
    std::string last_error;  // last protocol or device error, empty if none
};

class ControlHandler {
public:
    // Adds and starts a device; returns once its vhost-user socket is listening.
    virtual Result<> add_device(const DeviceSpec& spec) = 0;
    // Stops a device: in-flight I/O finished, mappings released, socket closed and unlinked.
    virtual Result<> remove_device(std::string_view name) = 0;
    virtual std::vector<DeviceStatus> status() const = 0;

protected:
    ~ControlHandler() = default;
};

}  // namespace xenvhost::worker
