#pragma once
// Supervises one guest's device model (xenvhost-dm): starts it with the
// guest's devices, reads its ready report (which ioreq server it created,
// where each device sits on the guest's bus), stops it, and notices when it
// dies. A device model is not restarted: the guest's drivers hold state in
// it that a new one would not know. If it dies, the ioreq server it left is
// destroyed so no vCPU waits on it for ever.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "event/event_loop.hpp"
#include "event/timer.hpp"

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xenvhost::daemon {

struct DeviceModelLaunch {
    std::string program;  // xenvhost-dm
    unsigned domid = 0;
    unsigned vcpus = 1;
    std::string ram;                   // --ram
    std::vector<std::string> devices;  // --device, one each
    std::string log_level;
    std::vector<std::string> sandbox;  // --sandbox-user, --sandbox-root (daemon/guest_sandbox.hpp), or none
};

// What the device model reported once its devices were on the guest's bus.
struct DeviceModelReport {
    std::optional<uint16_t> ioreq_server;
    std::map<std::string, std::string> placement;  // device name -> "pci 0000:00:10.0 intx A"
    bool ready = false;
};
Result<DeviceModelReport> parse_ready_report(std::string_view text);

class DeviceModelProcess {
public:
    struct Hooks {
        std::function<void(const DeviceModelReport&)> ready;
        // It exited before being ready, or died afterwards; not after stop().
        std::function<void(const std::string& reason)> failed;
        std::function<void()> stopped;
    };
    static Result<std::unique_ptr<DeviceModelProcess>> start(event::EventLoop& loop, DeviceModelLaunch launch,
                                                             Hooks hooks);
    ~DeviceModelProcess();

    // SIGTERM (the device model takes its devices off the bus and destroys
    // its server), SIGKILL after a grace period; `stopped` follows.
    void stop();
    // SIGTERM only: the caller holds one grace deadline for all the
    // processes it stops and kill()s those still running at its end.
    void terminate();
    // SIGKILL now if it still runs.
    void kill();
    // Lets go of it without a signal (xenstored is gone and we exit): the
    // guest keeps its devices.
    void abandon();
    pid_t pid() const { return pid_; }
    bool ready() const { return report_.ready; }
    const DeviceModelReport& report() const { return report_; }
    const std::vector<std::string>& devices() const { return launch_.devices; }

    DeviceModelProcess(event::EventLoop& loop, DeviceModelLaunch launch, Hooks hooks)
        : loop_(loop), launch_(std::move(launch)), hooks_(std::move(hooks)) {}

private:
    void on_report_readable();
    void on_exit();
    // SIGTERM; false when there is nothing to wait for.
    bool begin_stop();
    void destroy_left_over_server();

    event::EventLoop& loop_;
    DeviceModelLaunch launch_;
    Hooks hooks_;
    pid_t pid_ = -1;
    UniqueFd pidfd_;
    UniqueFd report_fd_;
    std::string report_text_;
    DeviceModelReport report_;
    std::unique_ptr<event::Timer> grace_;
    bool stopping_ = false;
};

}  // namespace xenvhost::daemon
