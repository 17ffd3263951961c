#pragma once
// What a program reports about one device it serves: the fields of the
// control protocol's "device" and "event device" lines.

#include <cstdint>
#include <string>

namespace xenvhost::control {

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
    // How grant buffers are reached (--grant-access: auto, map, per-access, copy).
    std::string grant_access = "auto";
    uint64_t copy_calls = 0;     // gntdev grant copy calls
    uint64_t copy_segments = 0;  // segments in them
    uint64_t copy_failures = 0;  // calls that failed, whole or in a segment
    std::string last_error;  // last protocol or device error, empty if none
};

}  // namespace xenvhost::control
