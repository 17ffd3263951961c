#pragma once
// The supervising end of a control channel (protocol in control/protocol.hpp):
// sends commands, matches replies in order, and passes "event device" lines
// on as they come. xenvhostd holds one per worker.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "control/commands.hpp"
#include "control/device_status.hpp"
#include "event/event_loop.hpp"

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace xenvhost::control {

class Client {
public:
    // ok → an empty list; status → one entry per device; error → the peer's reason.
    using ReplyFn = std::function<void(Result<std::vector<DeviceStatus>>)>;
    struct Callbacks {
        std::function<void(const DeviceStatus&)> event;
        // The connection broke (the peer died or misbehaved). Pending replies
        // are dropped. The client may be destroyed from inside this callback.
        std::function<void(const std::string& reason)> lost;
        // Names the other end in the reasons given to lost(), e.g. "worker".
        std::string peer = "peer";
    };

    // Connects without blocking. An error of kind kPeerGone means nobody is
    // listening (yet): a caller that just started the peer tries again later.
    static Result<std::unique_ptr<Client>> connect(event::EventLoop& loop, const std::string& path,
                                                          Callbacks callbacks);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Any of the *Command types.
    template <typename Command>
    void send(const Command& command, ReplyFn reply) {
        send_line(format_command(command), std::is_same_v<Command, StatusCommand>, std::move(reply), {});
    }
    // An add whose spec names fds (blk_fd, socket_fd): `fds` owns them, in
    // that order, and they travel with the line (control/fd_passing.hpp).
    void send(const AddCommand& command, ReplyFn reply, std::vector<UniqueFd> fds) {
        send_line(format_command(command), false, std::move(reply), std::move(fds));
    }
    size_t pending() const { return pending_.size(); }

private:
    struct Pending {
        bool is_status;
        ReplyFn reply;
        std::vector<DeviceStatus> devices;
    };
    Client(event::EventLoop& loop, UniqueFd fd, std::string path, Callbacks cb)
        : loop_(loop), fd_(std::move(fd)), path_(std::move(path)), cb_(std::move(cb)) {}
    void send_line(std::string line, bool is_status, ReplyFn reply, std::vector<UniqueFd> fds);
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
    // fds to send with the byte at that offset of out_ (a line's first).
    std::deque<std::pair<size_t, std::vector<UniqueFd>>> attached_;
    bool polling_out_ = false;
    std::deque<Pending> pending_;
    // Cleared by the destructor so a callback that destroys us is noticed.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace xenvhost::control
