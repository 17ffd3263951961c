#pragma once
// xenvhostd's command line and configuration file.

#include "base/error.hpp"
#include "base/log.hpp"
#include "daemon/disk_keys.hpp"
#include "daemon/external_backend.hpp"
#include "sandbox/identity.hpp"

#include <string>

namespace xenvhost::daemon {

struct Options {
    bool help = false;
    bool version = false;
    std::string run_dir = "/run/xenvhost";  // sockets and runtime files
    std::string worker;                     // the xenvhost-worker to run
    std::string device_model;               // the xenvhost-dm to run for HVM guests
    // hvmloader scans bus 0 once; qemu-xen's own devices sit in the low slots.
    unsigned dm_first_pci_slot = 16;
    std::string config_file;
    log::Level log_level = log::Level::kInfo;
    // Supervision: a worker dying more than max_restarts times within
    // restart_window_s seconds is given up on.
    unsigned max_restarts = 5;
    unsigned restart_window_s = 60;
    unsigned backoff_initial_ms = 100;
    unsigned backoff_max_ms = 5000;
    // Generic virtio device types served by the operator's own back-ends.
    ExternalBackends external_backends;
    // Keys of virtio disks the toolstack cannot write (grant_usage before
    // Xen 4.19, a virtio-mmio window on x86), per devid.
    DiskKeysList disk_keys;
    // Whom a guest's worker runs as (a uid from a range, a shared user, or
    // root only if allowed); see sandbox/identity.hpp.
    sandbox::IdentityPolicy identity;
};

std::string usage();

// Command line first, then the --config file for what the command line left
// unset. The error message is one line, ready to print.
Result<Options> parse_options(int argc, const char* const* argv);

// The worker binary next to our own executable.
std::string default_worker_path();
// A program installed beside xenvhostd.
std::string program_next_to_us(const std::string& name);

}  // namespace xenvhost::daemon
