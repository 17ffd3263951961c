#include "tests/xenstore/state_stamps.hpp"

#include <poll.h>

#include <algorithm>
#include <cmath>

namespace xenvhost::xstest {

Result<std::unique_ptr<StateStamps>> StateStamps::start(const std::string& root, const std::vector<std::string>& nodes,
                                                        const std::string& value) {
    auto xs = xen::Xenstore::open();
    if (!xs) return std::unexpected(xs.error());
    std::unique_ptr<StateStamps> s(new StateStamps(std::move(*xs), value));
    for (size_t i = 0; i < nodes.size(); ++i) s->index_.emplace(nodes[i], i);
    s->stamps_.resize(nodes.size());
    s->remaining_ = nodes.size();
    if (auto r = s->xs_.watch(root, "stamps"); !r) return std::unexpected(r.error());
    auto fd = s->xs_.watch_fd();
    if (!fd) return std::unexpected(fd.error());
    s->thread_ = std::thread([p = s.get(), fd = *fd] { p->run(fd); });
    return s;
}

StateStamps::~StateStamps() { stop(); }

void StateStamps::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

void StateStamps::run(int fd) {
    while (remaining_ > 0 && !stop_) {
        pollfd p{fd, POLLIN, 0};
        ::poll(&p, 1, 100);
        while (auto ev = xs_.next_event()) {
            auto it = index_.find(ev->path);
            if (it == index_.end() || stamps_[it->second]) continue;
            if (xs_.read(ev->path).value_or(std::nullopt) != value_) continue;
            stamps_[it->second] = Clock::now();
            --remaining_;
        }
    }
}

bool StateStamps::wait(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (remaining_ > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    stop();
    return remaining_ == 0;
}

std::optional<Clock::time_point> StateStamps::reached(size_t i) const {
    return i < stamps_.size() ? stamps_[i] : std::nullopt;
}

Spread spread_of(std::vector<double> ms) {
    if (ms.empty()) return {};
    std::sort(ms.begin(), ms.end());
    auto rank = [&](double q) {
        size_t r = static_cast<size_t>(std::ceil(q * static_cast<double>(ms.size())));
        return ms[std::clamp<size_t>(r, 1, ms.size()) - 1];
    };
    return {rank(0.50), rank(0.99), ms.back()};
}

}  // namespace xenvhost::xstest
