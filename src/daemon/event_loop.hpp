#pragma once
// The daemon's single epoll loop: xenstore watch fd, signalfd, worker pidfds,
// control connections and timers. Callbacks run on the loop thread.

#include "base/error.hpp"
#include "base/unique_fd.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace xenvhost::daemon {

class EventLoop {
public:
    using Callback = std::function<void(uint32_t events)>;

    static Result<EventLoop> create();

    // The fd stays owned by the caller and must be removed before it is closed.
    Result<> add(int fd, uint32_t events, Callback cb);
    Result<> modify(int fd, uint32_t events);
    void remove(int fd);
    // Runs until stop().
    Result<> run();
    void stop() { running_ = false; }
    // Runs `fn` after the current batch of callbacks, e.g. to destroy an
    // object whose own callback is on the stack.
    void defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

private:
    explicit EventLoop(UniqueFd epfd) : epfd_(std::move(epfd)) {}
    UniqueFd epfd_;
    bool running_ = false;
    // shared_ptr so a callback may remove itself while it runs.
    std::unordered_map<int, std::shared_ptr<Callback>> callbacks_;
    std::vector<std::function<void()>> deferred_;
};

// A one-shot timer (timerfd) on the loop; arming it again replaces the deadline.
class Timer {
public:
    static Result<std::unique_ptr<Timer>> create(EventLoop& loop, std::function<void()> fire);
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void arm(std::chrono::milliseconds after);
    void cancel();
    bool armed() const { return armed_; }

private:
    Timer(EventLoop& loop, UniqueFd fd, std::function<void()> fire)
        : loop_(loop), fd_(std::move(fd)), fire_(std::move(fire)) {}
    EventLoop& loop_;
    UniqueFd fd_;
    std::function<void()> fire_;
    bool armed_ = false;
};

}  // namespace xenvhost::daemon
