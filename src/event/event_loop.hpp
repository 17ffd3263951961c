#pragma once
// The one epoll loop every program runs on its control thread: listening
// sockets, connections, control channels, signalfds, pidfds and timers.
// Callbacks run on the loop thread.

#include "base/error.hpp"
#include "base/unique_fd.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace xenvhost::event {

class EventLoop {
public:
    using Callback = std::function<void(uint32_t events)>;

    // On the heap: timers and channels keep a reference to the loop.
    static Result<std::unique_ptr<EventLoop>> create();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Watches `fd` for `events` (EPOLLIN, ...). The fd stays owned by the
    // caller and must be removed before it is closed.
    Result<> add(int fd, uint32_t events, Callback cb);
    Result<> modify(int fd, uint32_t events);
    // A callback may remove itself or any other fd, also while it runs.
    void remove(int fd);
    // Runs until stop(); fails only if epoll_wait does.
    Result<> run();
    void stop() { running_ = false; }
    // Runs `fn` after the current batch of callbacks, e.g. to destroy an
    // object whose own callback is on the stack.
    void defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

private:
    explicit EventLoop(UniqueFd epfd) : epfd_(std::move(epfd)) {}
    void run_deferred();

    UniqueFd epfd_;
    bool running_ = false;
    // shared_ptr so a callback stays alive while it runs, even once removed.
    std::unordered_map<int, std::shared_ptr<Callback>> callbacks_;
    std::vector<std::function<void()>> deferred_;
};

}  // namespace xenvhost::event
