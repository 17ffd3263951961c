#include "frontend/reconnector.hpp"

#include <algorithm>

namespace xenvhost::vhost_frontend {

Result<std::unique_ptr<Reconnector>> Reconnector::create(event::EventLoop& loop, ReconnectPolicy policy,
                                                         std::function<bool()> attempt, std::function<void()> give_up) {
    std::unique_ptr<Reconnector> r(new Reconnector(policy, std::move(attempt), std::move(give_up)));
    Reconnector* self = r.get();
    auto t = event::Timer::create(loop, [self] { self->fire(); });
    if (!t) return pass(t.error());
    r->timer_ = std::move(*t);
    return r;
}

void Reconnector::begin() {
    if (active_) return;
    active_ = true;
    lost_at_ = std::chrono::steady_clock::now();
    delay_ = policy_.first_delay;
    // A supervisor needs a moment to restart the back-end: wait before the first try.
    timer_->arm(delay_);
}

void Reconnector::cancel() {
    active_ = false;
    timer_->cancel();
}

void Reconnector::fire() {
    if (!active_) return;
    if (attempt_()) {
        active_ = false;
        return;
    }
    // The attempt may have cancelled us (a reset, or the owner gave up itself).
    if (!active_) return;
    const auto waited = std::chrono::steady_clock::now() - lost_at_;
    if (waited >= policy_.give_up_after) {
        active_ = false;
        give_up_();
        return;
    }
    delay_ = std::min(delay_ * 2, policy_.max_delay);
    timer_->arm(delay_);
}

}  // namespace xenvhost::vhost_frontend
