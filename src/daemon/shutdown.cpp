// Stopping the daemon (SIGTERM, SIGINT): every worker and device model is
// signalled first, then their exits are awaited together on the event loop
// through their pidfds, under one grace deadline after which the stragglers
// get SIGKILL. So a stop takes as long as the slowest process, however many
// guests the host runs, never the sum of them.

#include "base/log.hpp"
#include "daemon/child_process.hpp"
#include "daemon/daemon.hpp"

namespace xenvhost::daemon {

void Daemon::shutdown(std::function<void()> done) {
    if (shutting_down_) return;
    shutting_down_ = true;
    shutdown_done_ = std::move(done);
    for (auto& [domid, m] : models_) {
        if (m.gather) m.gather->cancel();
        if (m.process) m.process->terminate();
    }
    std::erase_if(models_, [](const auto& m) { return !m.second.process; });
    if (workers_.empty() && models_.empty()) {
        loop_.defer([this] { finish_shutdown_if_done(); });
        return;
    }
    log::info("stopping {} worker(s) and {} device model(s)", workers_.size(), models_.size());
    // A worker with no process (between a death and its restart) reports
    // stopped at once; it is erased later, on the loop, so this loop is safe.
    for (auto& [domid, w] : workers_) w->terminate();
    stop_grace_->arm(kStopGrace);
}

void Daemon::kill_stragglers() {
    size_t workers = 0, models = 0;
    for (auto& [domid, w] : workers_) workers += w->has_process();
    for (auto& [domid, m] : models_) models += m.process != nullptr;
    log::warn("{} worker(s) and {} device model(s) still running {} ms after SIGTERM; killing them", workers, models,
              kStopGrace.count());
    for (auto& [domid, w] : workers_) w->kill();
    for (auto& [domid, m] : models_)
        if (m.process) m.process->kill();
}

void Daemon::finish_shutdown_if_done() {
    if (shutting_down_ && workers_.empty() && models_.empty() && shutdown_done_) {
        stop_grace_->cancel();
        auto done = std::move(shutdown_done_);
        shutdown_done_ = nullptr;
        done();
    }
}

}  // namespace xenvhost::daemon
