#include "frontend/vring_relay.hpp"

#include "base/eventfd.hpp"

#include <sys/epoll.h>

namespace xenvhost::vhost_frontend {

Result<std::unique_ptr<VringRelay>> VringRelay::create(event::EventLoop& loop,
                                                       std::span<const transport::QueueConfig> queues,
                                                       Handlers handlers) {
    std::unique_ptr<VringRelay> relay(new VringRelay(loop, std::move(handlers)));
    for (const auto& q : queues) {
        Ring r;
        r.queue = q;
        for (UniqueFd* fd : {&r.kick, &r.call, &r.err}) {
            auto made = make_eventfd();
            if (!made) return pass(made.error());
            *fd = std::move(*made);
        }
        relay->rings_.push_back(std::move(r));
    }
    // Watched only once every ring exists: the vector no longer moves.
    for (size_t i = 0; i < relay->rings_.size(); ++i)
        if (auto w = relay->watch(i); !w) return pass(w.error());
    return relay;
}

Result<> VringRelay::watch(size_t slot) {
    const Ring& r = rings_[slot];
    const uint16_t index = r.queue.index;
    const int call = r.call.get(), err = r.err.get();
    auto c = loop_.add(call, EPOLLIN, [this, call, index](uint32_t) {
        if (eventfd_drain(call)) handlers_.call(index);
    });
    if (!c) return c;
    return loop_.add(err, EPOLLIN, [this, err, index](uint32_t) {
        if (eventfd_drain(err)) handlers_.error(index);
    });
}

VringRelay::~VringRelay() {
    for (const Ring& r : rings_) {
        loop_.remove(r.call.get());
        loop_.remove(r.err.get());
    }
}

bool VringRelay::kick(uint16_t index) {
    for (const Ring& r : rings_) {
        if (r.queue.index != index) continue;
        eventfd_signal(r.kick.get());
        return true;
    }
    return false;
}

}  // namespace xenvhost::vhost_frontend
