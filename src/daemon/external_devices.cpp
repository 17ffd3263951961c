// The daemon's side of generic virtio devices served by the operator's own
// back-ends (external-backend in the configuration): no worker is started
// for them, their socket goes to the guest's device model as it is, and the
// daemon never starts, stops or signals the process behind it. The xenbus
// handshake, status keys, device model and teardown are those of every
// other device.

#include "base/log.hpp"
#include "daemon/daemon.hpp"

namespace xenvhost::daemon {

void Daemon::log_external_backends() const {
    for (const auto& b : options_.external_backends)
        log::info("generic virtio devices of type {} (virtio device {}) are served by the external back-end on {}",
                  b.type, b.virtio_id, b.socket);
}

void Daemon::start_external(Device& dev, const DeviceEntry& entry, Action action) {
    dev.external = entry.external_socket;
    if (auto r = check_external(dev.key, dev.external); !r) return fail_device(dev, r.error().message);
    dev.phase = Phase::kStarting;
    dev.adopting = action == Action::kAdopt;
    // Its type had no back-end of its own before (the keys changed since):
    // the worker lets go of it.
    if (auto w = workers_.find(dev.key.domid); w != workers_.end() && w->second->serves(dev.key.name()))
        w->second->remove(dev.key.name());
    log::info("{}: {}virtio device {} served by the external back-end on {}", dev.key.label(),
              dev.adopting ? "adopting (already at state 2): " : "", entry.virtio_id, dev.external);
    StatusUpdate u;
    u.set(kKeySocket, dev.external)
        .set(kKeyBackend, "external " + dev.external)
        .erase(kKeyWorkerPid)
        .erase(kKeyRestarts)
        .erase(kKeyConnected)
        .erase(kKeyMapping)
        .erase(kKeyGrantAccess)
        .erase(kKeyCounters)
        .erase(kKeyError);
    device_listening(dev, std::move(u));
}

Result<> Daemon::check_external(const DeviceKey& key, const std::string& socket) const {
    // A vhost-user socket serves one front-end at a time: a second device
    // on it would have the device model wait for ever.
    for (const auto& [other, dev] : devices_) {
        if (other == key || dev.external != socket) continue;
        if (dev.phase == Phase::kStarting || dev.phase == Phase::kReady || dev.phase == Phase::kClosing)
            return fail("external back-end socket {} already serves {}", socket, other.label());
    }
    return check_external_socket(socket);
}

// Checked again when the device model starts: the back-end may have gone
// since, and a socket the device model cannot connect to would fail the
// guest's other devices with it.
void Daemon::fail_missing_external(unsigned domid) {
    for (auto& [key, dev] : devices_) {
        if (key.domid != domid || !dev.awaiting_model || dev.external.empty()) continue;
        if (auto r = check_external_socket(dev.external); !r) {
            dev.awaiting_model = false;
            fail_device(dev, r.error().message);
        }
    }
}

std::string Daemon::model_failure(const Device& dev, const std::string& reason) const {
    // Before it was ready the likeliest cause is a back-end that is not
    // listening (a stale socket): the device model's log says which.
    if (dev.external.empty() || !dev.awaiting_model) return reason;
    return fmt::format("{} (before it was ready; is the external back-end on {} listening?)", reason, dev.external);
}

}  // namespace xenvhost::daemon
