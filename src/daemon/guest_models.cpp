// The daemon's side of device models: an HVM guest's devices reach state 2
// only once the guest's xenvhost-dm has put them on its bus (hvmloader scans
// the bus once, when the guest is unpaused), a PV guest's devices say they
// have no transport, and the device model goes with the guest.

#include "base/log.hpp"
#include "daemon/daemon.hpp"
#include "daemon/guest_layout.hpp"
#include "daemon/guest_sandbox.hpp"
#include "xen/device_model.hpp"
#include "xen/privilege.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

namespace xenvhost::daemon {
namespace {

using namespace std::chrono_literals;
// Devices of one guest appear within a moment of each other: one device
// model for all of them rather than one restart per device.
constexpr auto kGatherDevices = 100ms;
constexpr const char* kNoTransportPv = "none: a PV guest has no MMIO emulation, so no virtio transport";
constexpr const char* kNoTransportUnknown = "none: the guest's type (/libxl/<domid>/type) is not readable here";
constexpr const char* kNoTransportRefused = "none: Xen refuses this domain a device model for the HVM guest";

std::string errno_text(int err) { return err ? std::strerror(err) : "ok"; }

unsigned parse_unsigned(const std::optional<std::string>& text, unsigned fallback) {
    if (!text) return fallback;
    unsigned v = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    return ec == std::errc{} && end == text->data() + text->size() ? v : fallback;
}

}  // namespace

Daemon::GuestType Daemon::guest_type(unsigned domid) {
    auto type = xs_.read(fmt::format("/libxl/{}/type", domid));
    if (type && *type) {
        if (**type == "hvm") return GuestType::kHvm;
        return GuestType::kPv;  // "pv" and "pvh": neither has PCI nor an IOAPIC for a stock kernel
    }
    if (self_ == 0) return GuestType::kUnknown;
    // A driver domain cannot read /libxl: a DMOP that changes nothing says
    // whether the guest is HVM and whether Xen lets us be its device model.
    const xen::DmProbe probe = xen::DeviceModel::probe(domid);
    const xen::DmAccess access = xen::classify_dm_probe(probe);
    log::info("dom{}: /libxl/{}/type is not readable here; asked Xen through privcmd: open {}, restrict {}, "
              "DMOP {} ({})",
              domid, domid, errno_text(probe.open_err), errno_text(probe.restrict_err), errno_text(probe.dmop_err),
              xen::dm_access_name(access));
    switch (access) {
        case xen::DmAccess::kAllowed: return GuestType::kHvm;
        case xen::DmAccess::kRefused: return GuestType::kHvmRefused;
        case xen::DmAccess::kNotHvm: return GuestType::kPv;
        case xen::DmAccess::kKernelRestricted: return GuestType::kUnknownRestricted;
        case xen::DmAccess::kUnknown: break;
    }
    return GuestType::kUnknown;
}

// Called when the worker listens on the device's socket. True: state 2 waits
// for the device model.
bool Daemon::needs_model(Device& dev, StatusUpdate& update) {
    switch (guest_type(dev.key.domid)) {
    case GuestType::kHvm:
        dev.awaiting_model = true;
        schedule_model(dev.key.domid);
        return true;
    case GuestType::kPv:
        update.set(kKeyTransport, kNoTransportPv);
        return false;
    case GuestType::kUnknown:
        update.set(kKeyTransport, kNoTransportUnknown);
        return false;
    case GuestType::kUnknownRestricted:
        update.set(kKeyTransport, xen::kNoTransportRestricted);
        return false;
    case GuestType::kHvmRefused: {
        // No state 2: the guest would find no device. The error key says
        // what was refused and what to change.
        const std::string why = xen::device_model_refused(self_, dev.key.domid);
        dev.phase = Phase::kFailed;
        log::error("{}: cannot be served: {}", dev.key.label(), why);
        update.set(kKeyTransport, kNoTransportRefused).set(kKeyError, why).set(kKeyConnected, "0");
        return true;
    }
    }
    return false;
}

void Daemon::schedule_model(unsigned domid) {
    GuestModel& m = models_[domid];
    if (!m.gather) {
        auto timer = event::Timer::create(loop_, [this, domid] { start_model(domid); });
        if (!timer) return log::error("dom{}: {}", domid, timer.error().message);
        m.gather = std::move(*timer);
    }
    m.gather->arm(kGatherDevices);
}

DeviceModelLaunch Daemon::model_launch(unsigned domid) {
    DeviceModelLaunch l;
    l.program = options_.device_model;
    l.domid = domid;
    auto cpus = xs_.directory(fmt::format("/local/domain/{}/cpu", domid));
    l.vcpus = cpus && *cpus && !(*cpus)->empty() ? static_cast<unsigned>((*cpus)->size()) : 1;
    auto kib = xs_.read(fmt::format("/local/domain/{}/memory/static-max", domid));
    l.ram = hvm_ram_ranges(parse_unsigned(kib ? *kib : std::nullopt, 0));
    l.log_level = options_.log_level == log::Level::kDebug ? "debug" : "";
    unsigned slot = options_.dm_first_pci_slot;
    for (auto& [key, dev] : devices_) {
        if (key.domid != domid || !dev.awaiting_model) continue;
        auto entry = entry_of(dev);
        if (!entry) continue;
        std::string spec =
            fmt::format("name={},socket={},virtio-id={}", key.name(), served_socket(dev), entry->virtio_id);
        if (entry->base != 0 && entry->irq != 0) spec += fmt::format(",transport=mmio,base={:#x},irq={}", entry->base, entry->irq);
        else spec += fmt::format(",transport=pci,slot={}", slot++);
        if (entry->grant_usage.value_or(false)) spec += ",regions=grant";
        l.devices.push_back(std::move(spec));
    }
    return l;
}

void Daemon::start_model(unsigned domid) {
    GuestModel& m = models_[domid];
    if (m.process) {
        // Devices arrived after it started (before the guest runs): replace it.
        m.restart = true;
        m.process->stop();
        return;
    }
    fail_missing_external(domid);
    DeviceModelLaunch launch = model_launch(domid);
    if (launch.devices.empty()) return;
    if (slot_overflow(launch)) return on_model_failed(domid, "more virtio-pci devices than free PCI slots");
    if (::access(launch.program.c_str(), X_OK) != 0)
        return on_model_failed(domid, fmt::format("device model {} is not executable", launch.program));
    // The same identity as the guest's worker; its private root shows only the
    // directories of the devices' sockets (device_model/options.hpp).
    const std::string home = fmt::format("{}/dom{}", options_.run_dir, domid);
    auto who = guest_identity(options_, domid);
    if (::mkdir(home.c_str(), 0750) == 0 && who && *who) {
        // No worker made it (the guest's devices are all external): as a worker would.
        if (auto r = give_guest_directory(home, *who); !r) return on_model_failed(domid, r.error().message);
    }
    auto sandbox = sandbox_arguments(options_, domid, "device model", home + "/dm-root");
    if (!sandbox) return on_model_failed(domid, sandbox.error().message);
    launch.sandbox = std::move(*sandbox);
    DeviceModelProcess::Hooks hooks;
    hooks.ready = [this, domid](const DeviceModelReport& r) { on_model_ready(domid, r); };
    hooks.failed = [this, domid](const std::string& why) { on_model_failed(domid, why); };
    hooks.stopped = [this, domid] { on_model_stopped(domid); };
    auto process = DeviceModelProcess::start(loop_, std::move(launch), std::move(hooks));
    if (!process) return on_model_failed(domid, process.error().message);
    m.process = std::move(*process);
}

bool Daemon::slot_overflow(const DeviceModelLaunch& l) const {
    size_t pci = 0;
    for (const auto& d : l.devices) pci += d.find("transport=pci") != std::string::npos;
    return options_.dm_first_pci_slot + pci > 32;
}

void Daemon::on_model_ready(unsigned domid, const DeviceModelReport& report) {
    const pid_t pid = models_[domid].process->pid();
    for (auto& [key, dev] : devices_) {
        if (key.domid != domid || !dev.awaiting_model) continue;
        auto place = report.placement.find(key.name());
        if (place == report.placement.end()) continue;  // it arrived later: the next model has it
        dev.awaiting_model = false;
        dev.modelled = true;
        StatusUpdate u;
        u.set(kKeyTransport, place->second).set(kKeyModelPid, std::to_string(pid));
        if (dev.phase == Phase::kStarting) {
            u.state = {{kStateInitialising}, kStateInitWait};
            dev.phase = Phase::kReady;
        }
        log::info("{}: on the guest's bus ({}), state 2", key.label(), place->second);
        publish(key, u);
    }
}

void Daemon::on_model_failed(unsigned domid, const std::string& reason) {
    for (auto& [key, dev] : devices_) {
        if (key.domid != domid || !(dev.awaiting_model || dev.modelled)) continue;
        const std::string why = model_failure(dev, reason);
        dev.awaiting_model = dev.modelled = false;
        if (dev.phase == Phase::kStarting || dev.phase == Phase::kReady) fail_device(dev, why);
    }
    auto it = models_.find(domid);
    if (it != models_.end() && it->second.process) loop_.defer([this, domid] { drop_model(domid); });
}

void Daemon::on_model_stopped(unsigned domid) {
    loop_.defer([this, domid] {
        auto it = models_.find(domid);
        if (it == models_.end()) return;
        const bool again = it->second.restart && !shutting_down_;
        it->second.process.reset();
        it->second.restart = false;
        if (again) {
            for (auto& [key, dev] : devices_)
                if (key.domid == domid && dev.modelled) dev.awaiting_model = !(dev.modelled = false);
            return start_model(domid);
        }
        models_.erase(it);
        // A device of the guest closed and took the device model along:
        // its other devices are off the guest's bus now.
        for (auto& [key, dev] : devices_) {
            if (shutting_down_ || key.domid != domid || !(dev.modelled || dev.awaiting_model)) continue;
            dev.modelled = dev.awaiting_model = false;
            if (dev.phase == Phase::kStarting || dev.phase == Phase::kReady)
                fail_device(dev, "device model stopped: another device of the guest was closed");
        }
        finish_shutdown_if_done();
    });
}

void Daemon::drop_model(unsigned domid) {
    auto it = models_.find(domid);
    if (it == models_.end()) return;
    models_.erase(it);
    finish_shutdown_if_done();
}

// The guest's devices are going: its device model goes first (it cannot
// take one device off a running guest's bus).
void Daemon::stop_model(unsigned domid) {
    auto it = models_.find(domid);
    if (it == models_.end()) return;
    if (it->second.gather) it->second.gather->cancel();
    it->second.restart = false;
    if (it->second.process) it->second.process->stop();
    else models_.erase(it);
}

}  // namespace xenvhost::daemon
