#pragma once
// Retries a lost back-end on the loop's timer with a doubling delay, up to a
// time limit from the loss; then gives up once. The attempt itself (connect,
// renegotiate, restore) belongs to the owner.

#include "base/error.hpp"
#include "event/event_loop.hpp"
#include "event/timer.hpp"
#include "frontend/frontend_config.hpp"

#include <chrono>
#include <functional>
#include <memory>

namespace xenvhost::vhost_frontend {

class Reconnector {
public:
    // `attempt` returns true once the back-end is back; `give_up` runs when
    // the limit passed without that.
    static Result<std::unique_ptr<Reconnector>> create(event::EventLoop& loop, ReconnectPolicy policy,
                                                       std::function<bool()> attempt, std::function<void()> give_up);

    void begin();   // the back-end was lost now
    void cancel();
    bool active() const { return active_; }

private:
    Reconnector(ReconnectPolicy p, std::function<bool()> a, std::function<void()> g)
        : policy_(p), attempt_(std::move(a)), give_up_(std::move(g)) {}
    void fire();

    ReconnectPolicy policy_;
    std::function<bool()> attempt_;
    std::function<void()> give_up_;
    std::unique_ptr<event::Timer> timer_;
    std::chrono::steady_clock::time_point lost_at_;
    std::chrono::milliseconds delay_{0};
    bool active_ = false;
};

}  // namespace xenvhost::vhost_frontend
