#pragma once
// The description of one device a worker serves: given on the worker's
// command line, or sent by xenvhostd in the control protocol's "add".

#include "base/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace xenvhost::control {

struct DeviceSpec {
    std::string name;         // unique within the worker, e.g. "51712" (the xenstore devid)
    std::string socket_path;  // vhost-user socket to listen on (or empty with socket_fd)
    int socket_fd = -1;       // an already listening socket (--fd, or passed by xenvhostd); not owned
    std::string blk_file;     // image file or block device (its name only, with blk_fd)
    int blk_fd = -1;          // the image already open (passed by xenvhostd); not owned
    bool read_only = false;
    uint16_t num_queues = 1;
    uint16_t queue_size = 256;  // maximum the front-end may choose
    std::string serial;         // GET_ID answer (at most 20 bytes)
    std::string cache = "writeback";  // "writeback" (page cache) or "none" (O_DIRECT)
    bool null_io = false;  // complete I/O without touching the image (a benchmark's limit)
    std::string io_path = "auto";  // "auto" (copies in the queue thread on tmpfs/ramfs) or "uring"
};

// Parses "key=value,key=value" (keys: name, socket, blk-file, read-only,
// num-queues, queue-size, serial, cache, null-io, io-path) into a spec; clear error on bad input.
Result<DeviceSpec> parse_device_spec(std::string_view text);

// Checks ranges and required fields of a spec however it was built.
Result<> validate_device_spec(const DeviceSpec& spec);

}  // namespace xenvhost::control
