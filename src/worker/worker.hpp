#pragma once
// The worker's devices: created from the command line or by xenvhostd over
// the control channel, each served by its own DeviceHost.

#include "control/handler.hpp"
#include "event/event_loop.hpp"
#include "vhost_user/backend_session.hpp"
#include "worker/device_host.hpp"

#include <map>
#include <memory>
#include <string>

namespace xenvhost::worker {

class Worker final : public control::Handler {
public:
    Worker(event::EventLoop& loop, vhost_user::SessionOptions options) : loop_(loop), options_(options) {}
    ~Worker();

    Result<> add_device(const control::DeviceSpec& spec) override;
    Result<> remove_device(std::string_view name) override;
    std::vector<control::DeviceStatus> status() const override;

    // Called whenever a device's connection state changes.
    void on_status_change(DeviceHost::StatusCallback cb) { status_cb_ = std::move(cb); }
    void shutdown();
    // Sandboxed: socket files bound so far are left for their directory's
    // owner to remove (the sandbox cannot unlink).
    void leave_socket_paths();
    // Re-reads every device's config (on SIGHUP): a grown image reaches the guest.
    void refresh_config();
    // Every device's rings log where they stand (SIGUSR1).
    void report_queues();

private:
    event::EventLoop& loop_;
    vhost_user::SessionOptions options_;
    std::map<std::string, std::unique_ptr<DeviceHost>, std::less<>> devices_;
    DeviceHost::StatusCallback status_cb_;
};

}  // namespace xenvhost::worker
