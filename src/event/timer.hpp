#pragma once
// A one-shot timer (timerfd) on an EventLoop; arming it again replaces the
// deadline. Used for connect retries, restart backoff and grace periods.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "event/event_loop.hpp"

#include <chrono>
#include <functional>
#include <memory>

namespace xenvhost::event {

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

}  // namespace xenvhost::event
