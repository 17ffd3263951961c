#pragma once
// The eventfds of the started queues, owned here for as long as the driver
// keeps its queues, across back-end restarts: a kick the driver gave while
// no back-end was there stays counted in its eventfd and the next back-end
// sees it; the call and err eventfds are watched on the loop and turned into
// the transport's interrupts.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "event/event_loop.hpp"
#include "transport/virtio_device.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace xenvhost::vhost_frontend {

struct Ring {
    transport::QueueConfig queue;
    UniqueFd kick, call, err;
};

class VringRelay {
public:
    struct Handlers {
        std::function<void(uint16_t)> call;   // a used buffer on that queue
        std::function<void(uint16_t)> error;  // the back-end signalled a ring error
    };
    static Result<std::unique_ptr<VringRelay>> create(event::EventLoop& loop,
                                                      std::span<const transport::QueueConfig> queues,
                                                      Handlers handlers);
    ~VringRelay();
    VringRelay(const VringRelay&) = delete;
    VringRelay& operator=(const VringRelay&) = delete;

    std::span<const Ring> rings() const { return rings_; }
    // Kicks queue `index` if it was started; false otherwise.
    bool kick(uint16_t index);

private:
    VringRelay(event::EventLoop& loop, Handlers h) : loop_(loop), handlers_(std::move(h)) {}
    Result<> watch(size_t slot);

    event::EventLoop& loop_;
    Handlers handlers_;
    std::vector<Ring> rings_;
};

}  // namespace xenvhost::vhost_frontend
