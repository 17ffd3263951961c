#pragma once
// A worker serving a Xen guest without a hypervisor: a private directory
// holding a patterned disk image, the mapping double's state files and the
// sockets; the worker started there with --domid, --control-socket and
// LD_PRELOAD=libxendouble.so, stopped by its pid. The control channel's
// `status` answer gives the worker's own mapping counters.

#include "base/error.hpp"
#include "control/device_status.hpp"
#include "frontend/backend_process.hpp"
#include "frontend/test_env.hpp"
#include "frontend/xen_double_files.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xenvhost::frontend {

struct XenWorkerOptions {
    std::string program;     // the worker binary
    std::string double_lib;  // libxendouble.so; empty: no preload (a worker with no Xen devices)
    std::optional<uint32_t> worker_domid = 7;  // --domid; nullopt: none
    bool xen_flag = false;                     // --xen
    uint32_t guest_domid = 7;                  // the double's guest ($XENDOUBLE_DOMID)
    uint64_t guest_pages = 8192;               // 32 MiB of guest memory
    uint64_t image_size = 16ull << 20;
    uint64_t seed = 0x5eed;
    uint16_t num_queues = 2;
    bool control_socket = true;
    // --foreign-map: the foreign-mode tests check per-request mapping unless
    // they ask for the worker's default ("whole").
    std::string foreign_map = "per-request";
    bool verify_guest_writes = false;  // --verify-guest-writes
    // --grant-access: the grant tests count batched maps unless they ask
    // for another mode (empty: the worker's default, auto).
    std::string grant_access = "map";
};

// Defaults for a build tree's bin directory: its worker (or $XENVHOST_WORKER)
// and ../lib/libxendouble.so (or $XENDOUBLE_LIB).
XenWorkerOptions xen_worker_defaults(const std::string& build_bin);

// Reads the worker's control channel: one `status` exchange.
Result<std::vector<control::DeviceStatus>> control_status(const std::string& socket_path, int timeout_ms = 5000);

class XenWorker {
public:
    static Result<std::unique_ptr<XenWorker>> start(const XenWorkerOptions& opts);

    XenDoubleFiles& files() { return *files_; }
    BackendProcess& process() { return *process_; }
    const XenWorkerOptions& options() const { return opts_; }
    const std::string& socket() const { return socket_; }
    const std::string& image() const { return image_; }
    TempDir& dir() { return *dir_; }

    // The worker's counters for its (single) device.
    Result<control::DeviceStatus> status() const;
    std::string log_tail(size_t max_bytes = 8192) const { return process_->log_tail(max_bytes); }
    // SIGTERM; fails unless the worker was still running and exited 0.
    Result<void> stop_clean();

private:
    XenWorkerOptions opts_;
    std::unique_ptr<TempDir> dir_;
    std::unique_ptr<XenDoubleFiles> files_;
    std::unique_ptr<BackendProcess> process_;
    std::string socket_, image_, control_;
};

}  // namespace xenvhost::frontend
