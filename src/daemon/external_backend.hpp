#pragma once
// Back-ends the operator runs for generic virtio devices, named in the
// daemon's configuration:
//
//   external-backend = virtio,device22 /run/vhost-device-i2c/dom%d.sock
//
// A generic `virtio` device whose type matches gets no worker: the guest's
// device model connects to that socket (%d is the guest's domid), and the
// daemon never starts, stops or signals the process behind it.

#include "base/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xenvhost::daemon {

inline constexpr const char* kExternalBackendKey = "external-backend";

struct ExternalBackend {
    uint32_t virtio_id = 0;
    std::string type;    // as configured, e.g. "virtio,device22"
    std::string socket;  // absolute; "%d" stands for the guest's domid, "%%" for '%'
};
using ExternalBackends = std::vector<ExternalBackend>;

// The device number of a libxl type "virtio,device<N>" (N lower-case hex
// without 0x, as libxl writes it; leading zeros allowed).
Result<uint32_t> parse_virtio_type(std::string_view type);

// One configured value: "TYPE SOCKET".
Result<ExternalBackend> parse_external_backend(std::string_view text);
// Every configured value; a device number given twice is refused. Sockets
// under `run_dir` are refused: the daemon removes RUN/domD with its guest.
Result<ExternalBackends> parse_external_backends(const std::vector<std::string>& values, std::string_view run_dir);

const ExternalBackend* find_external_backend(const ExternalBackends& backends, uint32_t virtio_id);
// The configured socket with the domid substituted.
std::string external_socket(const ExternalBackend& backend, unsigned domid);

// The back-end's socket is there (it need not be listening yet: a stale
// socket is only found out when the device model connects).
Result<> check_external_socket(const std::string& path);

}  // namespace xenvhost::daemon
