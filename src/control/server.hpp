#pragma once
// The serving end of a control channel: a unix socket on which xenvhostd
// (or an operator) adds and removes devices and asks for their status, using
// the line protocol of control/protocol.hpp, answered by the program's
// Handler. Runs on the program's event loop; every command is answered from
// the loop thread. The worker serves one.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "control/commands.hpp"
#include "control/device_status.hpp"
#include "control/handler.hpp"
#include "event/event_loop.hpp"

#include <deque>
#include <map>
#include <memory>
#include <string>

namespace xenvhost::control {

class Server {
public:
    // Listens on `path` (a stale socket there is replaced) and serves clients on `loop`.
    static Result<std::unique_ptr<Server>> create(event::EventLoop& loop, Handler& handler,
                                                          std::string path);
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    // Drops every client, leaves the loop and unlinks the socket.
    ~Server();

    // Pushes "event device ..." to every connected client. Call on the loop
    // thread whenever a device's front-end connects or disconnects, or its
    // mapping mode becomes known.
    void notify(const DeviceStatus& status);

    // The socket file stays when the server goes: called once the process
    // is sandboxed, where the path is out of reach and unlink would only be
    // refused (and logged); the directory's owner removes it.
    void leave_path() { owns_path_ = false; }

    size_t client_count() const { return clients_.size(); }
    const std::string& path() const { return path_; }

private:
    struct Client {
        UniqueFd fd;
        std::string in;
        std::string out;
        std::deque<UniqueFd> fds;  // came with the lines read so far, not yet claimed by an add
        bool polling_out = false;
        bool dead = false;
    };

    Server(event::EventLoop& loop, Handler& handler, std::string path, UniqueFd listener)
        : loop_(loop), handler_(handler), path_(std::move(path)), listener_(std::move(listener)) {}
    void on_accept();
    void on_client(int fd, uint32_t events);
    void handle_line(Client& c, std::string_view line);
    Result<> add(Client& c, AddCommand& add);
    void send(Client& c, std::string_view data);
    void flush(Client& c);
    void update_poll(Client& c);
    void drop(int fd);

    event::EventLoop& loop_;
    Handler& handler_;
    std::string path_;
    bool owns_path_ = true;
    UniqueFd listener_;
    std::map<int, std::unique_ptr<Client>> clients_;
};

}  // namespace xenvhost::control
