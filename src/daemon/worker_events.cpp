// The daemon's side of its workers: which worker serves a guest, the
// device descriptions it is given, and what the daemon does when a worker
// reports a device added, removed or changed, or itself up, dead or gone.

#include "base/log.hpp"
#include "daemon/daemon.hpp"
#include "xen/privilege.hpp"

#include <filesystem>

namespace xenvhost::daemon {

Result<WorkerProcess*> Daemon::worker_for(unsigned domid) {
    if (auto it = workers_.find(domid); it != workers_.end()) return it->second.get();
    WorkerProcess::Hooks h;
    h.added = [this, domid](const std::string& name, const Result<>& r) { on_added(domid, name, r); };
    h.removed = [this, domid](const std::string& name) { on_removed(domid, name); };
    h.device_event = [this, domid](const control::DeviceStatus& s) { on_device_event(domid, s); };
    h.up = [this, domid](pid_t pid, unsigned restarts) { on_worker_up(domid, pid, restarts); };
    h.died = [this, domid](const std::string&, unsigned restarts) { on_worker_died(domid, restarts); };
    h.given_up = [this, domid](const std::string& reason) { on_worker_given_up(domid, reason); };
    h.stopped = [this, domid] { on_worker_stopped(domid); };
    auto w = WorkerProcess::create(loop_, options_, domid, std::move(h));
    if (!w) return std::unexpected(w.error());
    return workers_.emplace(domid, std::move(*w)).first->second.get();
}

std::string Daemon::socket_path(const DeviceKey& key) const {
    return fmt::format("{}/dom{}/{}.sock", options_.run_dir, key.domid, key.name());
}

std::string Daemon::served_socket(const Device& dev) const {
    return dev.external.empty() ? socket_path(dev.key) : dev.external;
}

control::DeviceSpec Daemon::spec_for(const DeviceEntry& e) const {
    control::DeviceSpec s;
    s.name = e.key.name();
    s.socket_path = socket_path(e.key);
    s.blk_file = e.image;
    s.read_only = e.read_only;
    s.serial = e.serial;
    return s;
}

Daemon::Device* Daemon::find(unsigned domid, const std::string& name) {
    auto dash = name.rfind('-');
    if (dash == std::string::npos) return nullptr;
    std::string_view kind = std::string_view(name).substr(0, dash);
    auto devid = parse_id(std::string_view(name).substr(dash + 1), INT32_MAX);
    if (!devid) return nullptr;
    for (DeviceKind k : kAllKinds) {
        if (kind_name(k) != kind) continue;
        auto it = devices_.find(DeviceKey{k, domid, *devid});
        return it == devices_.end() ? nullptr : &it->second;
    }
    return nullptr;
}

void Daemon::publish(const DeviceKey& key, const StatusUpdate& update) {
    auto r = publisher_.apply(dir_of(key), update);
    if (!r) check_xenstore(r.error());
}

void Daemon::on_added(unsigned domid, const std::string& name, const Result<>& result) {
    Device* dev = find(domid, name);
    if (!dev) return;
    // An answer for a device whose type got an external back-end since.
    if (!dev->external.empty()) return retire_worker_if_idle(domid);
    if (!result) {
        if (dev->phase == Phase::kStarting || dev->phase == Phase::kReady) fail_device(*dev, result.error().message);
        retire_worker_if_idle(domid);
        return;
    }
    auto& w = workers_.at(domid);
    if (dev->phase == Phase::kStarting) {
        dev->refused = false;
        StatusUpdate u;
        u.set(kKeySocket, socket_path(dev->key))
            .set(kKeyWorkerPid, std::to_string(w->pid()))
            .set(kKeyRestarts, std::to_string(w->restarts()))
            .set(kKeyConnected, "0")
            .set(kKeyMapping, "none")
            .erase(kKeyBackend)
            .erase(kKeyError);
        device_listening(*dev, std::move(u));
    } else if (dev->phase == Phase::kReady) {
        log::info("{}: served again by worker pid {} (restart {})", dev->key.label(), w->pid(), w->restarts());
        publish(dev->key, StatusUpdate{}
                              .set(kKeyWorkerPid, std::to_string(w->pid()))
                              .set(kKeyRestarts, std::to_string(w->restarts())));
    }
}

void Daemon::device_listening(Device& dev, StatusUpdate u) {
    const std::string socket = served_socket(dev);
    if (!dev.adopting && needs_model(dev, u)) {
        if (dev.phase != Phase::kFailed)
            log::info("{}: listening on {}; state 2 once the device model has it", dev.key.label(), socket);
        publish(dev.key, u);
        return;
    }
    if (!dev.adopting) u.state = {{kStateInitialising}, kStateInitWait};
    dev.phase = Phase::kReady;
    dev.connected = false;
    log::info("{}: ready on {}{}", dev.key.label(), socket, dev.adopting ? " (adopted at state 2)" : ", state 2");
    publish(dev.key, u);
}

void Daemon::on_removed(unsigned domid, const std::string& name) {
    Device* dev = find(domid, name);
    if (dev && dev->phase == Phase::kClosing) close_device(dev->key);
    retire_worker_if_idle(domid);
}

void Daemon::on_device_event(unsigned domid, const control::DeviceStatus& s) {
    Device* dev = find(domid, s.name);
    if (!dev || dev->phase != Phase::kReady || !dev->external.empty()) return;
    if (dev->connected != s.connected)
        log::info("{}: front-end {} (mapping {})", dev->key.label(), s.connected ? "connected" : "disconnected",
                  s.mapping);
    dev->connected = s.connected;
    StatusUpdate u;
    u.set(kKeyConnected, s.connected ? "1" : "0")
        .set(kKeyMapping, s.mapping)
        .set(kKeyGrantAccess, s.grant_access)
        .set(kKeyCounters, fmt::format("requests={} map-calls={} unmap-calls={} copy-calls={} "
                                       "copy-segments={} copy-failures={}",
                                       s.requests, s.map_calls, s.unmap_calls, s.copy_calls, s.copy_segments,
                                       s.copy_failures));
    // Xen refused the worker something for this guest (a foreign mapping in
    // a driver domain): that does not change while the guest runs, so the
    // error key stays until the device is served again.
    if (auto refusal = xen::refusal_in(s.last_error); !refusal.empty() && !dev->refused) {
        dev->refused = true;
        log::error("{}: {}", dev->key.label(), refusal);
        u.set(kKeyError, std::string(refusal));
    }
    publish(dev->key, u);
}

void Daemon::on_worker_up(unsigned domid, pid_t pid, unsigned restarts) {
    for (auto& [key, dev] : devices_) {
        if (key.domid != domid || dev.phase != Phase::kReady || !dev.external.empty()) continue;
        publish(key, StatusUpdate{}.set(kKeyWorkerPid, std::to_string(pid)).set(kKeyRestarts, std::to_string(restarts)));
    }
    // An adopted worker may serve nothing that is still declared.
    retire_worker_if_idle(domid);
}

void Daemon::on_worker_died(unsigned domid, unsigned restarts) {
    for (auto& [key, dev] : devices_) {
        if (key.domid != domid || dev.phase != Phase::kReady || !dev.external.empty()) continue;
        dev.connected = false;
        log::warn("{}: its worker died; it is re-added once the worker restarts", key.label());
        publish(key, StatusUpdate{}.set(kKeyConnected, "0").set(kKeyRestarts, std::to_string(restarts)));
    }
}

void Daemon::on_worker_given_up(unsigned domid, const std::string& reason) {
    for (auto& [key, dev] : devices_) {
        if (key.domid != domid || !dev.external.empty()) continue;
        if (dev.phase == Phase::kStarting || dev.phase == Phase::kReady) fail_device(dev, reason);
    }
}

void Daemon::on_worker_stopped(unsigned domid) {
    // The worker's own callback is on the stack: destroy it afterwards.
    loop_.defer([this, domid] {
        auto it = workers_.find(domid);
        if (it == workers_.end() || it->second->state() != WorkerProcess::State::kStopped) return;
        workers_.erase(it);
        remove_guest_run_dir(domid);
        finish_shutdown_if_done();
    });
}

void Daemon::retire_worker_if_idle(unsigned domid) {
    if (shutting_down_) return;
    auto it = workers_.find(domid);
    if (it == workers_.end() || it->second->device_count() != 0) return;
    for (auto& [key, dev] : devices_)
        if (key.domid == domid && dev.external.empty() && (dev.phase == Phase::kStarting || dev.phase == Phase::kReady || dev.phase == Phase::kClosing))
            return;
    log::info("dom{}: no device left to serve; stopping its worker", domid);
    it->second->stop();
}

void Daemon::remove_guest_run_dir(unsigned domid) {
    std::error_code ec;
    std::filesystem::remove_all(fmt::format("{}/dom{}", options_.run_dir, domid), ec);
    if (ec) log::warn("dom{}: cannot remove its run directory: {}", domid, ec.message());
}

}  // namespace xenvhost::daemon
