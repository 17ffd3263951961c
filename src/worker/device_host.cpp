#include "worker/device_host.hpp"

#include "base/log.hpp"
#include "base/unix_listener.hpp"

#include <sys/epoll.h>
#include <unistd.h>

namespace xenvhost::worker {
namespace {
// A front-end may not stall longer than this in the middle of a message.
constexpr int kMessageTimeoutMs = 5000;
}  // namespace

DeviceHost::DeviceHost(std::string name, std::string socket_path, bool owns_path, UniqueFd listen_fd,
                       std::unique_ptr<devices::Device> device, vhost_user::SessionOptions options,
                       event::EventLoop& loop)
    : name_(std::move(name)),
      socket_path_(std::move(socket_path)),
      owns_path_(owns_path),
      listen_fd_(std::move(listen_fd)),
      device_(std::move(device)),
      options_(std::move(options)),
      loop_(loop) {
    // Counters belong to this device and outlive its connections.
    options_.map_stats = std::make_shared<memory::MapStats>();
}

DeviceHost::~DeviceHost() { shutdown(); }

Result<> DeviceHost::start() {
    return loop_.add(listen_fd_.get(), EPOLLIN, [this](uint32_t) { on_accept(); });
}

void DeviceHost::shutdown() {
    if (conn_) disconnect("device removed");
    if (listen_fd_) {
        loop_.remove(listen_fd_.get());
        listen_fd_.reset();
        if (owns_path_ && !socket_path_.empty()) ::unlink(socket_path_.c_str());
    }
}

void DeviceHost::on_accept() {
    auto sock = accept_connection(listen_fd_.get());
    if (!sock) {
        log::warn("device {}: {}", name_, sock.error().message);
        return;
    }
    conn_ = std::make_unique<vhost_user::Connection>(std::move(*sock));
    if (auto r = conn_->set_timeouts(kMessageTimeoutMs); !r) log::warn("device {}: {}", name_, r.error().message);
    vhost_user::VringRunner& runner = *this;
    session_ = std::make_unique<vhost_user::BackendSession>(*conn_, *device_, runner, options_);
    // One front-end at a time: the next waits in the backlog until this one leaves.
    loop_.remove(listen_fd_.get());
    if (auto r = loop_.add(conn_->fd(), EPOLLIN, [this](uint32_t) { on_message(); }); !r) {
        disconnect(r.error().message);
        return;
    }
    log::info("device {}: front-end connected", name_);
    if (status_cb_) status_cb_(status());
}

void DeviceHost::on_message() {
    auto msg = conn_->receive();
    if (!msg) {
        if (msg.error().kind == ErrorKind::kPeerGone) {
            disconnect("front-end closed the connection");
        } else {
            last_error_ = msg.error().message;
            disconnect(fmt::format("protocol error: {}", msg.error().message));
        }
        return;
    }
    const uint32_t request = msg->header.request;
    log::debug("device {}: {}", name_, vhost_user::request_name(request));
    const char* mode_before = session_->memory_mode();
    if (auto r = session_->handle(*msg); !r) {
        last_error_ = r.error().message;
        disconnect(fmt::format("protocol error: {}", r.error().message));
        return;
    }
    // What Xen or this domain's kernel refused for the guest is its last
    // error, which xenvhostd turns into the device's error key.
    bool changed = session_->memory_mode() != mode_before;  // known with the first memory table
    if (const std::string& refusal = session_->privilege_refusal(); !refusal.empty() && refusal != last_error_) {
        last_error_ = refusal;
        changed = true;
    }
    if (status_cb_ && changed) status_cb_(status());
}

void DeviceHost::disconnect(std::string_view why) {
    log::info("device {}: {}; disconnecting", name_, why);
    loop_.remove(conn_->fd());
    session_.reset();  // stops rings (in-flight I/O finishes) and drops memory
    conn_.reset();
    if (listen_fd_) {
        if (auto r = loop_.add(listen_fd_.get(), EPOLLIN, [this](uint32_t) { on_accept(); }); !r)
            log::error("device {}: cannot listen again: {}", name_, r.error().message);
    }
    if (status_cb_) status_cb_(status());
}

void DeviceHost::refresh_config() {
    if (!device_->refresh_config() || !session_) return;
    if (auto r = session_->notify_config_change(); !r)
        log::warn("device {}: config changed but the front-end was not told: {}", name_, r.error().message);
    else
        log::info("device {}: front-end told of the config change", name_);
}

void DeviceHost::report_queues() {
    if (const uint64_t checked = stats_.write_checks.load())
        log::info("device {}: {} written buffers read back through a new mapping, {} differed", name_, checked,
                  stats_.write_mismatches.load());
    if (queues_.empty()) log::info("device {}: no running rings", name_);
    for (auto& [index, q] : queues_) q->report(fmt::format("device {}: ", name_));
}

control::DeviceStatus DeviceHost::status() const {
    control::DeviceStatus s;
    s.name = name_;
    s.socket_path = socket_path_;
    s.connected = conn_ != nullptr;
    s.mapping = session_ ? session_->memory_mode() : "none";
    s.requests = stats_.requests.load();
    s.map_calls = options_.map_stats->map_calls.load();
    s.unmap_calls = options_.map_stats->unmap_calls.load();
    s.pages_mapped = options_.map_stats->pages_mapped.load();
    s.map_failures = options_.map_stats->map_failures.load();
    s.copy_calls = options_.map_stats->copy_calls.load();
    s.copy_segments = options_.map_stats->copy_segments.load();
    s.copy_failures = options_.map_stats->copy_failures.load();
    s.grant_access = std::string(memory::grant_access_name(options_.memory->policy().grant_access));
    s.last_error = last_error_;
    return s;
}

Result<> DeviceHost::start(const vhost_user::VringStart& start) {
    auto q = QueueThread::start(start, *device_, stats_);
    if (!q) return std::unexpected(q.error());
    queues_[start.index] = std::move(*q);
    return {};
}

uint16_t DeviceHost::stop(uint16_t index) {
    auto it = queues_.find(index);
    if (it == queues_.end()) return 0;
    uint16_t base = it->second->stop();
    queues_.erase(it);
    return base;
}

void DeviceHost::set_call(uint16_t index, std::shared_ptr<UniqueFd> call) {
    if (auto it = queues_.find(index); it != queues_.end()) it->second->set_call(std::move(call));
}

Result<> DeviceHost::set_memory(std::shared_ptr<const memory::GuestMemory> memory) {
    Result<> result;
    for (auto& [index, q] : queues_) {
        if (auto r = q->set_memory(memory); !r && result) result = std::unexpected(r.error());
    }
    return result;
}

}  // namespace xenvhost::worker
