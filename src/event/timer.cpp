#include "event/timer.hpp"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdint>

namespace xenvhost::event {

Result<std::unique_ptr<Timer>> Timer::create(EventLoop& loop, std::function<void()> fire) {
    int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) return fail_errno("timerfd_create");
    std::unique_ptr<Timer> t(new Timer(loop, UniqueFd(fd), std::move(fire)));
    Timer* self = t.get();
    auto r = loop.add(fd, EPOLLIN, [self](uint32_t) {
        uint64_t expirations;
        // Nothing to read: cancelled after epoll reported it.
        if (::read(self->fd_.get(), &expirations, sizeof expirations) != sizeof expirations) return;
        self->armed_ = false;
        self->fire_();
    });
    if (!r) return std::unexpected(r.error());
    return t;
}

Timer::~Timer() { loop_.remove(fd_.get()); }

void Timer::arm(std::chrono::milliseconds after) {
    itimerspec spec{};
    auto ms = after.count() > 0 ? after.count() : 1;  // zero would disarm
    spec.it_value.tv_sec = ms / 1000;
    spec.it_value.tv_nsec = (ms % 1000) * 1000000;
    ::timerfd_settime(fd_.get(), 0, &spec, nullptr);
    armed_ = true;
}

void Timer::cancel() {
    itimerspec spec{};
    ::timerfd_settime(fd_.get(), 0, &spec, nullptr);
    uint64_t drain;
    (void)!::read(fd_.get(), &drain, sizeof drain);  // an expiry already due must not fire
    armed_ = false;
}

}  // namespace xenvhost::event
