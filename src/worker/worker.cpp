#include "worker/worker.hpp"

#include "base/log.hpp"
#include "devices/blk/blk_device.hpp"
#include "base/unix_listener.hpp"

#include <fcntl.h>

namespace xenvhost::worker {

Worker::~Worker() { shutdown(); }

Result<> Worker::add_device(const control::DeviceSpec& spec) {
    if (auto ok = control::validate_device_spec(spec); !ok) return ok;
    if (devices_.count(spec.name)) return fail("device {} already exists", spec.name);
    devices::blk::BlkOptions blk;
    blk.path = spec.blk_file;
    blk.fd = spec.blk_fd;
    blk.read_only = spec.read_only;
    blk.num_queues = spec.num_queues;
    blk.queue_size = spec.queue_size;
    blk.serial = spec.serial;
    auto cache = devices::blk::parse_cache_mode(spec.cache);
    if (!cache) return fail("device {}: {}", spec.name, cache.error().message);
    blk.cache = *cache;
    blk.null_io = spec.null_io;
    auto io_path = devices::blk::parse_io_path(spec.io_path);
    if (!io_path) return fail("device {}: {}", spec.name, io_path.error().message);
    blk.io_path = *io_path;
    auto device = devices::blk::make_blk_device(blk);
    if (!device) return fail("device {}: {}", spec.name, device.error().message);
    UniqueFd listen_fd;
    const bool given_socket = spec.socket_fd >= 0;
    if (given_socket) {
        // Whoever gave it keeps its own copy and the path.
        listen_fd.reset(::fcntl(spec.socket_fd, F_DUPFD_CLOEXEC, 3));
        if (!listen_fd) return fail_errno("device {}: duplicate the socket fd", spec.name);
    } else {
        auto l = listen_unix(spec.socket_path);
        if (!l) return fail("device {}: {}", spec.name, l.error().message);
        listen_fd = std::move(*l);
    }
    auto host = std::make_unique<DeviceHost>(spec.name, spec.socket_path, !given_socket, std::move(listen_fd),
                                             std::move(*device), options_, loop_);
    if (status_cb_) host->on_status_change(status_cb_);
    if (auto r = host->start(); !r) return fail("device {}: {}", spec.name, r.error().message);
    log::info("device {}: serving {}{} on {}", spec.name, spec.blk_file, spec.read_only ? " (read-only)" : "",
              spec.socket_path.empty() ? fmt::format("fd {}", spec.socket_fd) : spec.socket_path);
    devices_.emplace(spec.name, std::move(host));
    return {};
}

Result<> Worker::remove_device(std::string_view name) {
    auto it = devices_.find(name);
    if (it == devices_.end()) return fail("no device {}", name);
    it->second->shutdown();
    devices_.erase(it);
    log::info("device {}: removed", name);
    return {};
}

std::vector<control::DeviceStatus> Worker::status() const {
    std::vector<control::DeviceStatus> out;
    for (const auto& [name, host] : devices_) out.push_back(host->status());
    return out;
}

void Worker::report_queues() {
    for (auto& [name, host] : devices_) host->report_queues();
}

void Worker::refresh_config() {
    for (auto& [name, host] : devices_) host->refresh_config();
}

void Worker::shutdown() {
    for (auto& [name, host] : devices_) host->shutdown();
    devices_.clear();
}

void Worker::leave_socket_paths() {
    for (auto& [name, host] : devices_) host->leave_path();
}

}  // namespace xenvhost::worker
