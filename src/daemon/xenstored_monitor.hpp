#pragma once
// Notices xenstored going away at once. libxenstore closes its socket when
// xenstored dies but signals nothing on the watch fd, so a second, idle
// connection to the same socket is kept: xenstored never writes to a client
// that sent nothing, so any readiness on it means EOF or an error.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "event/event_loop.hpp"

#include <functional>
#include <memory>
#include <string>

namespace xenvhost::daemon {

class XenstoredMonitor {
public:
    // The socket libxenstore connects to: $XENSTORED_PATH, else
    // $XENSTORED_RUNDIR/socket, else /var/run/xenstored/socket.
    static std::string socket_path();
    // nullptr when xenstore is not reached through a socket (the xenbus
    // device of a driver domain): then only the periodic check notices.
    static Result<std::unique_ptr<XenstoredMonitor>> create(event::EventLoop& loop,
                                                            std::function<void(const std::string&)> lost);
    ~XenstoredMonitor();
    XenstoredMonitor(const XenstoredMonitor&) = delete;
    XenstoredMonitor& operator=(const XenstoredMonitor&) = delete;

private:
    XenstoredMonitor(event::EventLoop& loop, UniqueFd fd, std::string path,
                     std::function<void(const std::string&)> lost)
        : loop_(loop), fd_(std::move(fd)), path_(std::move(path)), lost_(std::move(lost)) {}
    void on_ready(uint32_t events);

    event::EventLoop& loop_;
    UniqueFd fd_;
    std::string path_;
    std::function<void(const std::string&)> lost_;
};

}  // namespace xenvhost::daemon
