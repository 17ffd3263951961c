#pragma once
// The system calls each kind of guest process may make once it is
// sandboxed: the worker's and the device model's lists, each in its own file
// with the reason for every entry. Nothing in them takes a path to open or
// creates a kernel object that names something outside the process.

#include <span>
#include <string_view>

namespace xenvhost::sandbox {

struct Allowlist {
    std::span<const std::string_view> names;
    // socket(AF_UNIX, ...), socketpair(AF_UNIX, ...) and connect: the device
    // model reconnects to its back-ends' sockets by path, each connection
    // with its request channel. Other families stay refused.
    bool unix_sockets = false;
};

// xenvhost-worker (worker_syscalls.cpp).
Allowlist worker_allowlist();
// xenvhost-dm (device_model_syscalls.cpp).
Allowlist device_model_allowlist();

}  // namespace xenvhost::sandbox
