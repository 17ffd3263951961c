#pragma once
// The daemon's end of a worker's control channel (protocol in
// worker/control_channel_protocol.hpp): sends commands, matches replies in
// order, and passes "event device" lines on as they come.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "event/event_loop.hpp"
#include "worker/control_channel_protocol.hpp"

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace xenvhost::daemon {

class ControlClient {
public:
    // ok → an empty list; status → one entry per device; error → the worker's reason.
    using ReplyFn = std::function<void(Result<std::vector<worker::DeviceStatus>>)>;
    struct Callbacks {
        std::function<void(const worker::DeviceStatus&)> event;
        // The connection broke (the worker died or misbehaved). Pending replies
        // are dropped. The client may be destroyed from inside this callback.
        std::function<void(const std::string& reason)> lost;
    };

    // Connects without blocking. errno ENOENT/ECONNREFUSED/EAGAIN in the error
    // mean "not listening yet": try again later.
    static Result<std::unique_ptr<ControlClient>> connect(event::EventLoop& loop, const std::string& path,
                                                          Callbacks callbacks);
    ~ControlClient();
    ControlClient(const ControlClient&) = delete;
    ControlClient& operator=(const ControlClient&) = delete;

    // Any of the control::*Command types.
    template <typename Command>
    void send(const Command& command, ReplyFn reply) {
        send_line(control::format_command(command), std::is_same_v<Command, control::StatusCommand>, std::move(reply));
    }
    size_t pending() const { return pending_.size(); }

private:
    struct Pending {
        bool is_status;
        ReplyFn reply;
        std::vector<worker::DeviceStatus> devices;
    };
    ControlClient(event::EventLoop& loop, UniqueFd fd, std::string path, Callbacks cb)
        : loop_(loop), fd_(std::move(fd)), path_(std::move(path)), cb_(std::move(cb)) {}
    void send_line(std::string line, bool is_status, ReplyFn reply);
    void on_ready(uint32_t events);
    // Returns false when the client is gone (lost() was called).
    bool handle_line(std::string_view line);
    bool flush();
    void lose(const std::string& reason);

    event::EventLoop& loop_;
    UniqueFd fd_;
    std::string path_;
    Callbacks cb_;
    std::string in_, out_;
    bool polling_out_ = false;
    std::deque<Pending> pending_;
    // Cleared by the destructor so a callback that destroys us is noticed.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace xenvhost::daemon
