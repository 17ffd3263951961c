#include "event/event_loop.hpp"

#include <sys/epoll.h>

#include <array>
#include <cerrno>

namespace xenvhost::event {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
    int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return fail_errno("epoll_create1");
    return std::unique_ptr<EventLoop>(new EventLoop(UniqueFd(fd)));
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
            auto cb = it->second;                  // keep alive while it runs
            (*cb)(events[i].events);
        }
        run_deferred();
    }
    return {};
}

void EventLoop::run_deferred() {
    // A deferred function may defer more; those run in the same pass.
    while (!deferred_.empty()) {
        auto batch = std::move(deferred_);
        deferred_.clear();
        for (auto& fn : batch) fn();
    }
}

}  // namespace xenvhost::event
