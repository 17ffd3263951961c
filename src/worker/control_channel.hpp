#pragma once
// The worker's end of the control channel: a unix socket on which xenvhostd
// (or an operator) adds and removes devices and asks for their status, using
// the line protocol of worker/control_channel_protocol.hpp. Runs on the
// worker's event::EventLoop; every command is answered from the loop thread.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "event/event_loop.hpp"
#include "worker/control_handler.hpp"

#include <map>
#include <memory>
#include <string>

namespace xenvhost::worker {

class ControlChannel {
public:
    // Listens on `path` (a stale socket there is replaced) and serves clients on `loop`.
    static Result<std::unique_ptr<ControlChannel>> create(event::EventLoop& loop, ControlHandler& handler,
                                                          std::string path);
    ControlChannel(const ControlChannel&) = delete;
    ControlChannel& operator=(const ControlChannel&) = delete;
    // Drops every client, leaves the loop and unlinks the socket.
    ~ControlChannel();

    // Pushes "event device ..." to every connected client. Call on the loop
    // thread whenever a device's front-end connects or disconnects, or its
    // mapping mode becomes known.
    void notify(const DeviceStatus& status);

    size_t client_count() const { return clients_.size(); }
    const std::string& path() const { return path_; }

private:
    struct Client {
        UniqueFd fd;
        std::string in;
        std::string out;
        bool polling_out = false;
        bool dead = false;
    };

    ControlChannel(event::EventLoop& loop, ControlHandler& handler, std::string path, UniqueFd listener)
        : loop_(loop), handler_(handler), path_(std::move(path)), listener_(std::move(listener)) {}
    void on_accept();
    void on_client(int fd, uint32_t events);
    void handle_line(Client& c, std::string_view line);
    void send(Client& c, std::string_view data);
    void flush(Client& c);
    void update_poll(Client& c);
    void drop(int fd);

    event::EventLoop& loop_;
    ControlHandler& handler_;
    std::string path_;
    UniqueFd listener_;
    std::map<int, std::unique_ptr<Client>> clients_;
};

}  // namespace xenvhost::worker
