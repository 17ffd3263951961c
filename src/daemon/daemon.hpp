#pragma once
// xenvhostd's core: ties discovery, the per-device state machine, the
// per-guest worker supervisors and the status publisher together on one
// event loop.

#include "base/error.hpp"
#include "daemon/device_entry.hpp"
#include "daemon/device_model_process.hpp"
#include "daemon/device_state.hpp"
#include "daemon/discovery.hpp"
#include "daemon/options.hpp"
#include "daemon/status_publisher.hpp"
#include "daemon/worker_process.hpp"
#include "daemon/xenstored_monitor.hpp"
#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "xen/xenstore.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace xenvhost::daemon {

// Exit status after the connection to xenstored was lost; the workers were
// left running for the next instance to adopt (documented in xenvhostd(8)).
inline constexpr int kExitXenstoredLost = 3;

class Daemon {
public:
    // Connects to xenstored, finds our domid, sets the watches and takes over
    // the devices already there.
    static Result<std::unique_ptr<Daemon>> create(const Options& options, event::EventLoop& loop);
    ~Daemon();

    // Stops every worker and removes its sockets, then calls `done`.
    void shutdown(std::function<void()> done);
    // 0, or kExitXenstoredLost.
    int exit_code() const { return lost_ ? kExitXenstoredLost : 0; }
    unsigned self_domid() const { return self_; }

private:
    struct Device {
        DeviceKey key;
        Phase phase = Phase::kIdle;
        bool adopting = false;
        bool connected = false;
        KeyValues inputs;  // what the last attempt was made with
        bool awaiting_model = false;  // an HVM guest's device: state 2 once the device model has it
        bool modelled = false;        // on the guest's bus through the running device model
        std::string external;         // its external back-end's socket; empty: the guest's worker serves it
        bool refused = false;         // its worker reported a refusal by Xen (xenvhost-error written)
    };
    // kHvmRefused: an HVM guest whose device model Xen refuses this (driver)
    // domain; kUnknownRestricted: unknown, and this domain's kernel keeps
    // privcmd from asking Xen (xen/privilege.hpp).
    enum class GuestType { kHvm, kHvmRefused, kPv, kUnknown, kUnknownRestricted };
    struct GuestModel {
        std::unique_ptr<DeviceModelProcess> process;
        std::unique_ptr<event::Timer> gather;  // waits for the guest's other devices
        bool restart = false;                  // start again once stopped (devices were added)
    };

    Daemon(const Options& options, event::EventLoop& loop, xen::Xenstore xs)
        : options_(options), loop_(loop), xs_(std::move(xs)), publisher_(xs_) {}
    Result<> start();
    void on_xenstore_readable();
    void process(DiscoveryBatch batch);
    void process_device(const DeviceKey& key);
    Result<Observed> observe(const std::string& dir) const;
    Result<KeyValues> read_inputs(const DeviceKey& key) const;
    Result<DeviceEntry> entry_of(const Device& dev) const;
    void start_device(Device& dev, Action action);
    // Its socket is listening: state 2 now, or once the device model has it.
    void device_listening(Device& dev, StatusUpdate update);
    void fail_device(Device& dev, const std::string& reason);
    void stop_device(Device& dev);
    void close_device(const DeviceKey& key);
    void report_malformed(const std::string& dir, const std::string& reason);
    Result<WorkerProcess*> worker_for(unsigned domid);
    control::DeviceSpec spec_for(const DeviceEntry& entry) const;
    std::string socket_path(const DeviceKey& key) const;  // a worker's socket for the device
    std::string served_socket(const Device& dev) const;   // where the device model connects
    std::string dir_of(const DeviceKey& key) const { return device_dir(self_, key); }
    Device* find(unsigned domid, const std::string& name);
    void publish(const DeviceKey& key, const StatusUpdate& update);
    void check_xenstore(const Error& e);
    void check_connection();
    // xenstored is gone: leave the workers serving their guests and exit.
    void lose_xenstored(const std::string& why);
    // Workers left running by an earlier instance for guests with no device
    // declared any more (xenstored restarted empty): adopted, then retired.
    void adopt_leftover_workers();

    void on_added(unsigned domid, const std::string& name, const Result<>& result);
    void on_removed(unsigned domid, const std::string& name);
    void on_device_event(unsigned domid, const control::DeviceStatus& status);
    void on_worker_up(unsigned domid, pid_t pid, unsigned restarts);
    void on_worker_died(unsigned domid, unsigned restarts);
    void on_worker_given_up(unsigned domid, const std::string& reason);
    void on_worker_stopped(unsigned domid);
    void on_release_domain();
    // Whether the guest domain still exists: xenstored's answer, or in a
    // driver domain that may not ask, whether its devices' frontend
    // directories are there.
    Result<bool> guest_running(unsigned domid) const;
    // A driver domain removes a closed device's directory itself, shortly
    // after writing state 6.
    void schedule_removal(const std::string& dir);
    void retire_worker_if_idle(unsigned domid);
    // shutdown.cpp
    void finish_shutdown_if_done();
    void kill_stragglers();

    // Devices of the operator's back-ends (external_devices.cpp).
    void log_external_backends() const;
    void start_external(Device& dev, const DeviceEntry& entry, Action action);
    Result<> check_external(const DeviceKey& key, const std::string& socket) const;
    void fail_missing_external(unsigned domid);
    std::string model_failure(const Device& dev, const std::string& reason) const;

    // Device models (guest_models.cpp).
    GuestType guest_type(unsigned domid);
    bool needs_model(Device& dev, StatusUpdate& update);
    void schedule_model(unsigned domid);
    DeviceModelLaunch model_launch(unsigned domid);
    void start_model(unsigned domid);
    bool slot_overflow(const DeviceModelLaunch& launch) const;
    void on_model_ready(unsigned domid, const DeviceModelReport& report);
    void on_model_failed(unsigned domid, const std::string& reason);
    void on_model_stopped(unsigned domid);
    void drop_model(unsigned domid);
    void stop_model(unsigned domid);
    void remove_guest_run_dir(unsigned domid);

    const Options& options_;
    event::EventLoop& loop_;
    xen::Xenstore xs_;
    unsigned self_ = 0;
    int watch_fd_ = -1;
    std::unique_ptr<Discovery> discovery_;
    // libxenstore does not signal a dead connection on the watch fd: an idle
    // second connection notices at once, and a cheap read now and then
    // covers the xenbus device, where there is no socket to watch.
    std::unique_ptr<XenstoredMonitor> monitor_;
    std::unique_ptr<event::Timer> health_;
    StatusPublisher publisher_;
    std::map<DeviceKey, Device> devices_;
    std::map<unsigned, std::unique_ptr<WorkerProcess>> workers_;
    std::map<unsigned, GuestModel> models_;
    std::map<std::string, std::unique_ptr<event::Timer>> removals_;  // device directories to remove
    // One deadline for every process a shutdown stops.
    std::unique_ptr<event::Timer> stop_grace_;
    bool shutting_down_ = false;
    bool lost_ = false;
    std::function<void()> shutdown_done_;
};

}  // namespace xenvhost::daemon
