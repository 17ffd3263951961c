#pragma once
// epoll-based event loop for the worker's control thread: listening sockets,
// connections, the control channel, signals. Callbacks run on the loop thread.

#include "base/error.hpp"
#include "base/unique_fd.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

namespace xenvhost::worker {

class EventLoop {
public:
    using Callback = std::function<void(uint32_t events)>;

    static Result<std::unique_ptr<EventLoop>> create();

    // Watches `fd` for `events` (EPOLLIN, ...). The fd stays owned by the caller
    // and must be removed before it is closed.
    Result<> add(int fd, uint32_t events, Callback cb);
    void remove(int fd);
    // Runs until stop() is called.
    void run();
    void stop() { running_ = false; }

private:
    explicit EventLoop(UniqueFd epfd) : epfd_(std::move(epfd)) {}
    UniqueFd epfd_;
    bool running_ = false;
    // shared_ptr so a callback may remove itself (or others) while running.
    std::unordered_map<int, std::shared_ptr<Callback>> callbacks_;
};

}  // namespace xenvhost::worker
