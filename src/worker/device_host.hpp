#pragma once
// Hosts one device on its vhost-user socket: accepts one front-end at a
// time, runs the protocol session on the worker's main loop, and runs each
// started ring on its own queue thread.

#include "control/device_status.hpp"
#include "devices/device.hpp"
#include "event/event_loop.hpp"
#include "vhost_user/backend_session.hpp"
#include "vhost_user/connection.hpp"
#include "queue/queue_stats.hpp"
#include "worker/queue_thread.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace xenvhost::worker {

class DeviceHost final : private vhost_user::VringRunner {
public:
    using StatusCallback = std::function<void(const control::DeviceStatus&)>;

    // `listen_fd` is a listening socket at `socket_path` (may be empty),
    // which is unlinked when the host goes away if `owns_path` (we bound it;
    // a socket xenvhostd made is its to remove).
    DeviceHost(std::string name, std::string socket_path, bool owns_path, UniqueFd listen_fd,
               std::unique_ptr<devices::Device> device, vhost_user::SessionOptions options,
               event::EventLoop& loop);
    ~DeviceHost();

    Result<> start();
    // The socket file stays when the host goes (see control::Server::leave_path).
    void leave_path() { owns_path_ = false; }
    // Disconnects the front-end (finishing in-flight I/O) and stops listening.
    void shutdown();

    // Re-reads the device's config (the image may have grown) and tells a
    // connected front-end when it changed.
    void refresh_config();

    const std::string& name() const { return name_; }
    control::DeviceStatus status() const;
    // Each running ring logs where it stands (SIGUSR1).
    void report_queues();
    void on_status_change(StatusCallback cb) { status_cb_ = std::move(cb); }

private:
    void on_accept();
    void on_message();
    void disconnect(std::string_view why);

    // VringRunner
    Result<> start(const vhost_user::VringStart& start) override;
    uint16_t stop(uint16_t index) override;
    void set_call(uint16_t index, std::shared_ptr<UniqueFd> call) override;
    Result<> set_memory(std::shared_ptr<const memory::GuestMemory> memory) override;

    std::string name_;
    std::string socket_path_;
    bool owns_path_;
    UniqueFd listen_fd_;
    std::unique_ptr<devices::Device> device_;
    vhost_user::SessionOptions options_;
    event::EventLoop& loop_;
    std::unique_ptr<vhost_user::Connection> conn_;
    std::unique_ptr<vhost_user::BackendSession> session_;
    std::map<uint16_t, std::unique_ptr<QueueThread>> queues_;
    queue::QueueStats stats_;
    std::string last_error_;
    StatusCallback status_cb_;
};

}  // namespace xenvhost::worker
