#include "daemon/event_loop.hpp"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace xenvhost::daemon {

Result<EventLoop> EventLoop::create() {
    int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return fail_errno("epoll_create1");
    return EventLoop(UniqueFd(fd));
}

Result<> EventLoop::add(int fd, uint32_t events, Callback cb) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return fail_errno("epoll_ctl add fd {}", fd);
    callbacks_[fd] = std::make_shared<Callback>(std::move(cb));
    return {};
}

Result<> EventLoop::modify(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, fd, &ev) < 0) return fail_errno("epoll_ctl mod fd {}", fd);
    return {};
}

void EventLoop::remove(int fd) {
    ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
    callbacks_.erase(fd);
}

Result<> EventLoop::run() {
    running_ = true;
    std::array<epoll_event, 64> events;
    while (running_) {
        int n = ::epoll_wait(epfd_.get(), events.data(), events.size(), -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno("epoll_wait");
        }
        for (int i = 0; i < n && running_; ++i) {
            auto it = callbacks_.find(events[i].data.fd);
            if (it == callbacks_.end()) continue;  // removed by an earlier callback
            auto cb = it->second;
            (*cb)(events[i].events);
        }
        while (!deferred_.empty()) {
            auto batch = std::move(deferred_);
            deferred_.clear();
            for (auto& fn : batch) fn();
        }
    }
    return {};
}

Result<std::unique_ptr<Timer>> Timer::create(EventLoop& loop, std::function<void()> fire) {
    int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) return fail_errno("timerfd_create");
    std::unique_ptr<Timer> t(new Timer(loop, UniqueFd(fd), std::move(fire)));
    Timer* self = t.get();
    auto r = loop.add(fd, EPOLLIN, [self](uint32_t) {
        uint64_t expirations;
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
    (void)!::read(fd_.get(), &drain, sizeof drain);
    armed_ = false;
}

}  // namespace xenvhost::daemon
