#pragma once
// What the serving end of a control channel (control/server.hpp) can ask of
// the program behind it. Implemented by the program (the worker's device
// host); called on the program's event loop.

#include "base/error.hpp"
#include "control/device_spec.hpp"
#include "control/device_status.hpp"

#include <string_view>
#include <vector>

namespace xenvhost::control {

class Handler {
public:
    // Adds and starts a device; returns once its vhost-user socket is listening.
    virtual Result<> add_device(const DeviceSpec& spec) = 0;
    // Stops a device: in-flight I/O finished, mappings released, socket closed and unlinked.
    virtual Result<> remove_device(std::string_view name) = 0;
    virtual std::vector<DeviceStatus> status() const = 0;

protected:
    ~Handler() = default;
};

}  // namespace xenvhost::control
