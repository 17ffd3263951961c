#include "daemon/daemon.hpp"

#include "base/log.hpp"

#include <sys/epoll.h>

#include <cerrno>
#include <filesystem>

namespace xenvhost::daemon {
namespace {
constexpr std::chrono::milliseconds kHealthPeriod{2000};
// How long a driver domain leaves a closed device's directory for libxl in
// dom0 to read its state 6 (libxl then waits up to 10 s for the removal).
constexpr std::chrono::milliseconds kRemovalDelay{1500};
}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::create(const Options& options, event::EventLoop& loop) {
    auto xs = xen::Xenstore::open();
    if (!xs) return std::unexpected(xs.error());
    std::unique_ptr<Daemon> d(new Daemon(options, loop, std::move(*xs)));
    if (auto r = d->start(); !r) return std::unexpected(r.error());
    return d;
}

Daemon::~Daemon() {
    // Normally nothing is left here. When something is, every process is
    // signalled before the first destructor reaps its own.
    for (auto& [domid, w] : workers_) w->kill();
    for (auto& [domid, m] : models_)
        if (m.process) m.process->kill();
    stop_grace_.reset();
    health_.reset();
    monitor_.reset();
    if (watch_fd_ >= 0) loop_.remove(watch_fd_);
}

Result<> Daemon::start() {
    // Our own domid is the relative "domid" node; dom0 may not have one.
    auto domid = xs_.read("domid");
    if (!domid) return std::unexpected(domid.error());
    if (*domid) {
        auto id = parse_id(**domid, kMaxDomid);
        if (!id) return fail("our xenstore domid node: {}", id.error().message);
        self_ = *id;
    }
    log::info("serving virtio devices of backend domain {}{} (run dir {}, worker {})", self_,
              self_ ? " (driver domain)" : "", options_.run_dir, options_.worker);
    log_external_backends();
    discovery_ = std::make_unique<Discovery>(xs_, self_);
    if (auto r = discovery_->watch(); !r) return r;
    auto fd = xs_.watch_fd();
    if (!fd) return std::unexpected(fd.error());
    if (auto r = loop_.add(*fd, EPOLLIN, [this](uint32_t) { on_xenstore_readable(); }); !r) return r;
    watch_fd_ = *fd;
    auto monitor = XenstoredMonitor::create(loop_, [this](const std::string& why) { lose_xenstored(why); });
    if (!monitor) log::warn("{}; xenstored's death is noticed by the periodic check only", monitor.error().message);
    else monitor_ = std::move(*monitor);
    auto health = event::Timer::create(loop_, [this] { check_connection(); });
    if (!health) return std::unexpected(health.error());
    health_ = std::move(*health);
    health_->arm(kHealthPeriod);
    auto grace = event::Timer::create(loop_, [this] { kill_stragglers(); });
    if (!grace) return std::unexpected(grace.error());
    stop_grace_ = std::move(*grace);
    auto batch = discovery_->scan();
    if (!batch) return std::unexpected(batch.error());
    process(std::move(*batch));
    adopt_leftover_workers();
    return {};
}

void Daemon::adopt_leftover_workers() {
    std::error_code ec;
    for (auto& entry : std::filesystem::directory_iterator(options_.run_dir, ec)) {
        std::string name = entry.path().filename().string();
        if (!name.starts_with("dom")) continue;
        auto domid = parse_id(std::string_view(name).substr(3), kMaxDomid);
        if (!domid || workers_.contains(*domid)) continue;
        pid_t pid = WorkerProcess::left_running(options_, *domid);
        if (pid == 0) continue;
        log::warn("dom{}: worker pid {} was left running by an earlier xenvhostd, but no device of dom{} is "
                  "declared in xenstore; adopting it to take its devices out",
                  *domid, pid, *domid);
        // Adopted, it lists its devices; none is claimed, so it is retired
        // (SIGTERM, SIGKILL after the grace) like any worker left idle.
        if (auto w = worker_for(*domid); !w) log::error("dom{}: {}", *domid, w.error().message);
    }
    if (ec) log::warn("cannot list the run directory {}: {}", options_.run_dir, ec.message());
}

void Daemon::check_xenstore(const Error& e) {
    if (e.kind == ErrorKind::kPeerGone) return lose_xenstored(e.message);
    log::error("{}", e.message);
}

void Daemon::check_connection() {
    auto r = xs_.read("domid");
    if (!r) return lose_xenstored(fmt::format("xenstored does not answer: {}", r.error().message));
    health_->arm(kHealthPeriod);
}

void Daemon::lose_xenstored(const std::string& why) {
    if (lost_) return;
    if (shutting_down_) {
        log::warn("lost the connection to xenstored while stopping ({})", why);
        return;
    }
    lost_ = true;
    shutting_down_ = true;
    health_->cancel();
    monitor_.reset();
    std::string pids;
    size_t count = 0;
    for (auto& [domid, w] : workers_) {
        if (!w->has_process()) continue;
        pids += fmt::format("{}{} (dom{})", count ? ", " : "", w->pid(), domid);
        ++count;
    }
    // Without xenstored we can neither see new devices nor answer teardowns,
    // but the guests' front-ends are connected to the workers, not to us:
    // leave them serving, and let the service manager start us again.
    log::error("lost the connection to xenstored ({}); leaving {} worker(s) running for the next xenvhostd to adopt{}{}; "
               "exiting with status {}",
               why, count, count ? ": pid " : "", pids, kExitXenstoredLost);
    for (auto& [domid, w] : workers_) w->abandon();
    for (auto& [domid, m] : models_)
        if (m.process) m.process->abandon();
    loop_.stop();
}

void Daemon::on_xenstore_readable() {
    if (shutting_down_) {
        while (xs_.next_event()) {
        }
        return;
    }
    auto batch = discovery_->drain();
    if (!batch) return check_xenstore(batch.error());
    process(std::move(*batch));
}

void Daemon::process(DiscoveryBatch batch) {
    for (auto& [key, dev] : devices_) {
        if (batch.rescanned_kinds.contains(key.kind) || batch.rescanned_guests.contains({key.kind, key.domid}))
            batch.devices.insert(key);
    }
    for (auto& key : batch.minor)
        if (!devices_.contains(key)) batch.devices.insert(key);
    for (auto& [dir, reason] : batch.malformed) report_malformed(dir, reason);
    for (auto& key : batch.devices) process_device(key);
    if (batch.release_domain) on_release_domain();
}

void Daemon::report_malformed(const std::string& dir, const std::string& reason) {
    // Only someone else's write brings us here (our own key is skipped), and
    // the directory may have been recreated since: write the key again.
    log::error("{}: cannot be served: {}", dir, reason);
    publisher_.forget(dir);
    auto r = publisher_.apply(dir, StatusUpdate{}.set(kKeyError, reason));
    if (!r) check_xenstore(r.error());
}

Result<Observed> Daemon::observe(const std::string& dir) const {
    Observed o;
    auto state = xs_.read(dir + "/state");
    if (!state) return std::unexpected(state.error());
    if (*state) {
        o.exists = true;
        if (auto s = parse_id(**state, 255)) o.state = *s;
    } else {
        // A directory node reads as an empty value; a missing one as nothing.
        auto self = xs_.read(dir);
        if (!self) return std::unexpected(self.error());
        o.exists = self->has_value();
    }
    if (!o.exists) return o;
    auto online = xs_.read(dir + "/online");
    if (!online) return std::unexpected(online.error());
    o.online = *online && **online == "1";
    return o;
}

Result<KeyValues> Daemon::read_inputs(const DeviceKey& key) const {
    KeyValues values;
    std::string dir = dir_of(key);
    for (auto k : entry_keys(key.kind)) {
        auto v = xs_.read(dir + "/" + std::string(k));
        if (!v) return std::unexpected(v.error());
        if (*v) values.emplace(std::string(k), std::move(**v));
    }
    return values;
}

void Daemon::process_device(const DeviceKey& key) {
    auto seen = observe(dir_of(key));
    if (!seen) return check_xenstore(seen.error());
    auto it = devices_.find(key);
    if (it == devices_.end()) {
        Device fresh{};
        fresh.key = key;
        it = devices_.emplace(key, std::move(fresh)).first;
    }
    Device& dev = it->second;
    Action action = decide(dev.phase, *seen);
    log::debug("{}: phase {}, state {}, online {} -> {}", key.label(), phase_name(dev.phase),
               seen->state ? std::to_string(*seen->state) : "-", seen->online ? 1 : 0, action_name(action));
    switch (action) {
        case Action::kNone:
            // Only remember devices we may have to act on later.
            if (!seen->exists) devices_.erase(it);
            break;
        case Action::kStart:
        case Action::kAdopt:
        case Action::kRetry: start_device(dev, action); break;
        case Action::kRepublish: {
            log::info("{}: the toolstack rewrote the device directory; publishing state 2 again", key.label());
            publisher_.forget(dir_of(key));
            auto* w = workers_.contains(key.domid) ? workers_[key.domid].get() : nullptr;
            StatusUpdate u;
            u.set(kKeySocket, served_socket(dev));
            if (!dev.external.empty()) u.set(kKeyBackend, "external " + dev.external);
            else u.set(kKeyConnected, dev.connected ? "1" : "0");
            if (w && dev.external.empty())
                u.set(kKeyWorkerPid, std::to_string(w->pid())).set(kKeyRestarts, std::to_string(w->restarts()));
            u.state = {{kStateInitialising}, kStateInitWait};
            publish(key, u);
            break;
        }
        case Action::kStop: stop_device(dev); break;
        case Action::kClose: close_device(key); break;
        case Action::kStopForget: {
            const bool external = !dev.external.empty();
            log::info("{}: device directory removed; {}", key.label(),
                      external ? "its external back-end is left running" : "taking the device out of its worker");
            publisher_.forget(dir_of(key));
            devices_.erase(it);
            stop_model(key.domid);
            if (auto w = workers_.find(key.domid); w != workers_.end() && !external) w->second->remove(key.name());
            retire_worker_if_idle(key.domid);
            break;
        }
        case Action::kForget:
            log::debug("{}: device directory removed", key.label());
            publisher_.forget(dir_of(key));
            devices_.erase(it);
            break;
    }
}

void Daemon::start_device(Device& dev, Action action) {
    auto inputs = read_inputs(dev.key);
    if (!inputs) return check_xenstore(inputs.error());
    if (action == Action::kRetry && *inputs == dev.inputs) return;  // nothing changed since it failed
    dev.inputs = std::move(*inputs);
    dev.external.clear();
    auto entry = entry_of(dev);
    if (!entry) return fail_device(dev, entry.error().message);
    if (auto r = check_image(*entry); !r) return fail_device(dev, r.error().message);
    auto introduced = guest_running(dev.key.domid);
    if (!introduced) return check_xenstore(introduced.error());
    if (!*introduced) {
        log::info("{}: guest domain {} is not running; not serving the device", dev.key.label(), dev.key.domid);
        dev.phase = Phase::kIdle;
        return;
    }
    if (!entry->external_socket.empty()) return start_external(dev, *entry, action);
    auto worker = worker_for(dev.key.domid);
    if (!worker) return fail_device(dev, worker.error().message);
    dev.phase = Phase::kStarting;
    dev.adopting = action == Action::kAdopt;
    log::info("{}: {} ({}, {}{})", dev.key.label(), dev.adopting ? "adopting (already at state 2)" : "starting",
              entry->image, entry->read_only ? "read-only" : "read-write", entry->cdrom ? ", cdrom" : "");
    (*worker)->add(spec_for(*entry));  // may answer at once (on_added)
}

Result<DeviceEntry> Daemon::entry_of(const Device& dev) const {
    auto entry = parse_entry(dev.key, dev.inputs, options_.external_backends);
    if (entry) apply_disk_keys(*entry, options_.disk_keys);
    return entry;
}

void Daemon::fail_device(Device& dev, const std::string& reason) {
    dev.phase = Phase::kFailed;
    log::error("{}: cannot be served: {}", dev.key.label(), reason);
    StatusUpdate u;
    u.set(kKeyError, reason);
    // Whether an external back-end has a front-end is not ours to know.
    if (dev.external.empty()) u.set(kKeyConnected, "0");
    publish(dev.key, u);
}

void Daemon::stop_device(Device& dev) {
    dev.phase = Phase::kClosing;
    stop_model(dev.key.domid);
    auto w = workers_.find(dev.key.domid);
    if (!dev.external.empty()) {
        log::info("{}: closing; its external back-end on {} is left running", dev.key.label(), dev.external);
        return close_device(dev.key);
    }
    log::info("{}: closing", dev.key.label());
    if (w == workers_.end()) return close_device(dev.key);
    w->second->remove(dev.key.name());  // on_removed() closes it, possibly at once
}

void Daemon::close_device(const DeviceKey& key) {
    auto it = devices_.find(key);
    if (it == devices_.end()) return;
    Device& dev = it->second;
    dev.phase = Phase::kClosed;
    dev.connected = false;
    StatusUpdate u;
    if (dev.external.empty()) u.set(kKeyConnected, "0");
    u.state = {std::nullopt, kStateClosed};
    std::string dir = dir_of(key);
    auto r = publisher_.apply(dir, u);
    if (!r) return check_xenstore(r.error());
    if (!*r) {
        log::info("{}: closed (directory already removed)", key.label());
        publisher_.forget(dir);
        devices_.erase(it);
        return;
    }
    if (self_ != 0) {
        // In a driver domain nobody else may remove the backend directory
        // (xl devd would), but not at once: libxl in dom0 reads `state` when
        // its watch fires, and a directory already gone there is an error to
        // it ("wanted state 6 but it was removed"; seen on the real
        // hypervisor). It waits up to 10 s for the removal after that.
        publisher_.forget(dir);
        devices_.erase(it);
        schedule_removal(dir);
        log::info("{}: closed (state 6); its device directory is removed in {} ms", key.label(),
                  kRemovalDelay.count());
        return;
    }
    log::info("{}: closed (state 6)", key.label());
}

void Daemon::on_release_domain() {
    std::set<unsigned> domids;
    for (auto& [d, _] : workers_) domids.insert(d);
    for (auto& [key, _] : devices_) domids.insert(key.domid);
    for (auto& [d, _] : models_) domids.insert(d);
    for (unsigned d : domids) {
        auto introduced = guest_running(d);
        if (!introduced) return check_xenstore(introduced.error());
        if (*introduced) continue;
        log::info("dom{}: guest domain is gone; releasing its devices and worker", d);
        for (auto it = devices_.begin(); it != devices_.end();) {
            if (it->first.domid != d) {
                ++it;
                continue;
            }
            log::info("{}: released with its guest", it->first.label());
            publisher_.forget(dir_of(it->first));
            it = devices_.erase(it);
        }
        stop_model(d);
        if (auto w = workers_.find(d); w != workers_.end()) w->second->stop();
        else remove_guest_run_dir(d);
    }
}

void Daemon::schedule_removal(const std::string& dir) {
    if (removals_.contains(dir)) return;
    auto timer = event::Timer::create(loop_, [this, dir] {
        if (auto rm = xs_.remove(dir); !rm) check_xenstore(rm.error());
        else log::info("{}: device directory removed", dir);
        // The timer's own callback is on the stack.
        loop_.defer([this, dir] { removals_.erase(dir); });
    });
    if (!timer) {
        log::error("{}: {}; removing the device directory now", dir, timer.error().message);
        if (auto rm = xs_.remove(dir); !rm) check_xenstore(rm.error());
        return;
    }
    (*timer)->arm(kRemovalDelay);
    removals_.emplace(dir, std::move(*timer));
}

Result<bool> Daemon::guest_running(unsigned domid) const {
    auto introduced = xs_.is_domain_introduced(domid);
    if (introduced || self_ == 0 || (introduced.error().err != EACCES && introduced.error().err != EPERM))
        return introduced;
    // xenstored refuses a driver domain the question (Debian's 4.17 does).
    // libxl lets the back-end domain read the frontend directory of each of
    // the guest's devices, which goes with /local/domain/<guest>: one that
    // is still there says the guest is.
    bool known = false;
    for (auto& [key, dev] : devices_) {
        if (key.domid != domid) continue;
        known = true;
        auto frontend = xs_.read(dir_of(key) + "/frontend");
        if (!frontend) return std::unexpected(frontend.error());
        if (!*frontend || frontend->value().empty()) continue;
        auto node = xs_.read(**frontend);
        if (!node) {
            if (node.error().err == EACCES) continue;
            return std::unexpected(node.error());
        }
        if (node->has_value()) return true;
    }
    if (!known) return true;  // nothing to look at: the device watches will tell
    return false;
}

}  // namespace xenvhost::daemon
