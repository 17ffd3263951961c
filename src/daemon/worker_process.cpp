#include "daemon/worker_process.hpp"

#include "base/log.hpp"
#include "daemon/child_process.hpp"
#include "daemon/device_fds.hpp"
#include "daemon/guest_sandbox.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace xenvhost::daemon {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = 5s;
constexpr auto kConnectRetryMax = 50ms;
}  // namespace

Result<std::unique_ptr<WorkerProcess>> WorkerProcess::create(event::EventLoop& loop,
                                                             const Options& options, unsigned domid,
                                                             Hooks hooks) {
    std::unique_ptr<WorkerProcess> w(new WorkerProcess(loop, options, domid, std::move(hooks)));
    if (::mkdir(w->dir().c_str(), 0750) < 0 && errno != EEXIST) return fail_errno("mkdir {}", w->dir());
    // The guest's device model passes through it to the sockets; no other guest's may.
    if (auto who = guest_identity(options, domid); who && *who) {
        if (auto r = give_guest_directory(w->dir(), *who); !r) return std::unexpected(r.error());
    }
    WorkerProcess* self = w.get();
    auto timer = event::Timer::create(loop, [self] { self->fire_timer(); });
    if (!timer) return std::unexpected(timer.error());
    w->timer_ = std::move(*timer);
    if (w->try_adopt() || w->replace_stale()) return w;
    if (auto r = w->spawn(); !r) return std::unexpected(r.error());
    return w;
}

WorkerProcess::~WorkerProcess() {
    *alive_ = false;
    client_.reset();
    if (pidfd_) {
        // Never leave a worker behind us: kill and reap it.
        loop_.remove(pidfd_.get());
        pidfd_signal(pidfd_.get(), SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        ::unlink((dir() + "/worker.pid").c_str());
    }
}

std::string WorkerProcess::dir() const { return fmt::format("{}/dom{}", options_.run_dir, domid_); }

pid_t WorkerProcess::left_running(const Options& options, unsigned domid) {
    std::string dir = fmt::format("{}/dom{}", options.run_dir, domid);
    std::ifstream in(dir + "/worker.pid");
    pid_t old = 0;
    if (!(in >> old) || old <= 1) return 0;
    std::ifstream cmd(fmt::format("/proc/{}/cmdline", old));
    std::stringstream ss;
    ss << cmd.rdbuf();
    std::string args = ss.str();
    // Only a worker started for this very control socket is ours.
    std::string control = dir + "/control";
    if (args.find(std::string("\0", 1) + control + std::string("\0", 1)) == std::string::npos) return 0;
    return old;
}

bool WorkerProcess::replace_stale() {
    pid_t old = left_running(options_, domid_);
    if (old == 0) return false;
    UniqueFd fd(pidfd_open(old));
    if (!fd) return false;  // gone meanwhile
    // Never waited for here: a daemon that finds many of them would take
    // their grace periods one after another.
    if (auto r = loop_.add(fd.get(), EPOLLIN, [this](uint32_t) { on_exit(); }); !r) {
        log::warn("dom{}: cannot watch worker pid {} left behind by an earlier xenvhostd: {}; killing it", domid_,
                  old, r.error().message);
        pidfd_signal(fd.get(), SIGKILL);
        return false;
    }
    log::warn("dom{}: stopping worker {} left behind by an earlier xenvhostd", domid_, old);
    pid_ = old;
    pidfd_ = std::move(fd);
    adopted_ = true;  // not our child
    state_ = State::kReplacing;
    pidfd_signal(pidfd_.get(), SIGTERM);
    timer_->arm(kStopGrace);
    return true;
}

bool WorkerProcess::try_adopt() {
    pid_t old = left_running(options_, domid_);
    if (old == 0) return false;
    UniqueFd fd(pidfd_open(old));
    if (!fd) return false;
    auto client = control::Client::connect(loop_, control_path(), client_callbacks());
    if (!client) {
        log::warn("dom{}: worker pid {} left running by an earlier xenvhostd does not answer on {}: {}; replacing it",
                  domid_, old, control_path(), client.error().message);
        return false;
    }
    if (auto r = loop_.add(fd.get(), EPOLLIN, [this](uint32_t) { on_exit(); }); !r) {
        log::warn("dom{}: cannot watch worker pid {}: {}; replacing it", domid_, old, r.error().message);
        return false;
    }
    pid_ = old;
    pidfd_ = std::move(fd);
    client_ = std::move(*client);
    state_ = State::kAdopting;
    adopted_ = true;
    killed_for_timeout_ = false;
    spawned_at_ = Clock::now();
    timer_->arm(std::chrono::duration_cast<std::chrono::milliseconds>(kConnectTimeout));
    log::info("dom{}: adopting worker pid {} left running by an earlier xenvhostd", domid_, old);
    auto alive = alive_;
    client_->send(control::StatusCommand{}, [this, alive](Result<std::vector<control::DeviceStatus>> r) {
        if (*alive) on_adopted(std::move(r));
    });
    return true;
}

void WorkerProcess::on_adopted(Result<std::vector<control::DeviceStatus>> found) {
    if (state_ != State::kAdopting) return;
    timer_->cancel();
    if (!found) {
        log::warn("dom{}: adopted worker pid {} cannot list its devices: {}; killing it", domid_, pid_,
                  found.error().message);
        pidfd_signal(pidfd_.get(), SIGKILL);  // on_exit() starts a fresh one
        return;
    }
    // What it serves under the same name and socket is kept as it is (the
    // front-end stays connected); anything else is added, moved or taken out.
    std::vector<control::DeviceStatus> kept;
    std::vector<std::string> unclaimed, moved;
    // Sockets of devices that go: xenvhostd made them, so it removes them.
    std::map<std::string, std::string> old_sockets;
    for (auto& d : *found) {
        auto it = devices_.find(d.name);
        if (it == devices_.end()) unclaimed.push_back(d.name);
        else if (it->second.socket_path == d.socket_path) kept.push_back(d);
        else moved.push_back(d.name);
        if (it == devices_.end() || it->second.socket_path != d.socket_path) old_sockets[d.name] = d.socket_path;
    }
    state_ = State::kRunning;
    log::info("dom{}: adopted worker pid {}: it serves {} device(s), {} of them still declared", domid_, pid_,
              found->size(), kept.size() + moved.size());
    for (auto& name : unclaimed)
        log::warn("dom{}: worker pid {} serves {}, which is no longer declared in xenstore; taking it out", domid_,
                  pid_, name);
    auto alive = alive_;
    if (hooks_.up) hooks_.up(pid_, restarts_);
    if (!*alive || state_ != State::kRunning) return;
    for (auto& name : unclaimed) {
        client_->send(control::RemoveCommand{name}, [this, alive, name, path = old_sockets[name]](
                                                        Result<std::vector<control::DeviceStatus>> r) {
            if (!*alive) return;
            if (!r) log::warn("dom{}: worker could not remove {}: {}", domid_, name, r.error().message);
            if (!path.empty()) ::unlink(path.c_str());
            if (hooks_.removed) hooks_.removed(name);
        });
    }
    for (auto& name : moved) {
        // Replies come in order: the add below is answered after this removal.
        client_->send(control::RemoveCommand{name}, [path = old_sockets[name]](Result<std::vector<control::DeviceStatus>>) {
            if (!path.empty()) ::unlink(path.c_str());
        });
    }
    for (auto& [name, spec] : devices_) {
        bool is_kept = std::any_of(kept.begin(), kept.end(), [&](auto& d) { return d.name == name; });
        if (!is_kept) send_add(name);
    }
    // Sockets an earlier xenvhostd bound may predate their handing to the guest's uid.
    auto owner = guest_identity(options_, domid_);
    for (auto& d : kept)
        if (auto r = give_guest_socket(d.socket_path, owner ? *owner : std::optional<sandbox::Identity>()); !r)
            log::warn("dom{}: {}; its device model may not reach it", domid_, r.error().message);
    for (auto& d : kept) {
        if (!devices_.contains(d.name)) continue;
        if (hooks_.added) hooks_.added(d.name, {});
        if (!*alive) return;
        if (hooks_.device_event) hooks_.device_event(d);
        if (!*alive) return;
    }
}

control::Client::Callbacks WorkerProcess::client_callbacks() {
    control::Client::Callbacks cb;
    cb.peer = "worker";
    cb.event = [this](const control::DeviceStatus& s) {
        if (hooks_.device_event) hooks_.device_event(s);
    };
    cb.lost = [this](const std::string& reason) { on_lost(reason); };
    return cb;
}

Result<> WorkerProcess::spawn() {
    std::string domid = std::to_string(domid_);
    std::string control = control_path();
    ::unlink(control.c_str());  // so we never connect to a stale socket
    std::vector<std::string> args = {"--domid", domid, "--control-socket", control};
    auto sandbox = sandbox_args();
    if (!sandbox) return std::unexpected(sandbox.error());
    args.insert(args.end(), sandbox->begin(), sandbox->end());

    auto child = spawn_child(options_.worker, args);
    if (!child) return fail("worker: {}", child.error().message);
    const pid_t pid = child->pid;
    UniqueFd fd = std::move(child->pidfd);
    if (auto r = loop_.add(fd.get(), EPOLLIN, [this](uint32_t) { on_exit(); }); !r) {
        pidfd_signal(fd.get(), SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return std::unexpected(r.error());
    }
    pid_ = pid;
    pidfd_ = std::move(fd);
    state_ = State::kStarting;
    adopted_ = false;
    killed_for_timeout_ = false;
    spawned_at_ = Clock::now();
    connect_delay_ = 2ms;
    timer_->arm(connect_delay_);
    std::ofstream(dir() + "/worker.pid") << pid << "\n";
    log::info("dom{}: started worker pid {}", domid_, pid);
    return {};
}

Result<std::vector<std::string>> WorkerProcess::sandbox_args() const {
    return sandbox_arguments(options_, domid_, "worker", dir() + "/root");
}

void WorkerProcess::try_connect() {
    auto client = control::Client::connect(loop_, control_path(), client_callbacks());
    if (!client) {
        const bool not_yet = client.error().kind == ErrorKind::kPeerGone;
        if (!not_yet || Clock::now() - spawned_at_ > kConnectTimeout) {
            log::error("dom{}: worker pid {} does not answer on {}: {}", domid_, pid_, control_path(),
                       client.error().message);
            killed_for_timeout_ = true;
            pidfd_signal(pidfd_.get(), SIGKILL);  // on_exit() restarts it
            return;
        }
        connect_delay_ = std::min<std::chrono::milliseconds>(connect_delay_ * 2, kConnectRetryMax);
        timer_->arm(connect_delay_);
        return;
    }
    client_ = std::move(*client);
    state_ = State::kRunning;
    log::debug("dom{}: connected to worker pid {}", domid_, pid_);
    auto alive = alive_;
    if (hooks_.up) hooks_.up(pid_, restarts_);
    if (!*alive || state_ != State::kRunning) return;
    for (auto& [name, spec] : devices_) send_add(name);
}

void WorkerProcess::send_add(const std::string& name) {
    auto it = devices_.find(name);
    if (it == devices_.end() || !client_) return;
    auto alive = alive_;
    auto answer = [this, alive, name](Result<std::vector<control::DeviceStatus>> r) {
        if (!*alive || !devices_.contains(name) || removing_.contains(name)) return;
        Result<> result;
        if (!r) {
            erase_device(name);
            result = std::unexpected(r.error());
        }
        if (hooks_.added) hooks_.added(name, result);
    };
    // The worker opens nothing by path: the image and the socket go with the line.
    auto owner = guest_identity(options_, domid_);
    auto fds = open_device_fds(it->second, owner ? *owner : std::optional<sandbox::Identity>());
    if (!fds) {
        // Answered as the worker would have, after the caller's loop over devices_.
        Error error = fds.error();
        loop_.defer([answer, error] { answer(std::unexpected(error)); });
        return;
    }
    control::AddCommand add{it->second};
    add.spec.blk_fd = fds->image.get();
    add.spec.socket_fd = fds->socket.get();
    std::vector<UniqueFd> owned;
    owned.push_back(std::move(fds->image));
    owned.push_back(std::move(fds->socket));
    client_->send(add, answer, std::move(owned));
}

void WorkerProcess::add(const control::DeviceSpec& spec) {
    devices_[spec.name] = spec;
    if (state_ == State::kRunning) send_add(spec.name);
    else if (state_ == State::kGivenUp || state_ == State::kStopping || state_ == State::kStopped) {
        devices_.erase(spec.name);
        if (hooks_.added)
            hooks_.added(spec.name, fail("the worker for dom{} {}", domid_,
                                         state_ == State::kGivenUp ? "was given up on" : "is stopping"));
    }
}

void WorkerProcess::erase_device(const std::string& name) {
    auto it = devices_.find(name);
    if (it == devices_.end()) return;
    // The socket is ours (open_device_fds bound it); the worker leaves the path alone.
    ::unlink(it->second.socket_path.c_str());
    devices_.erase(it);
}

void WorkerProcess::remove(const std::string& name) {
    if (!devices_.contains(name) || state_ != State::kRunning || !client_) {
        erase_device(name);
        if (hooks_.removed) hooks_.removed(name);
        return;
    }
    removing_[name] = true;
    auto alive = alive_;
    client_->send(control::RemoveCommand{name}, [this, alive, name](Result<std::vector<control::DeviceStatus>> r) {
        if (!*alive) return;
        if (!r) log::warn("dom{}: worker could not remove {}: {}", domid_, name, r.error().message);
        removing_.erase(name);
        erase_device(name);
        if (hooks_.removed) hooks_.removed(name);
    });
}

void WorkerProcess::stop() {
    if (begin_stop()) timer_->arm(kStopGrace);
}

void WorkerProcess::terminate() { begin_stop(); }

bool WorkerProcess::begin_stop() {
    if (state_ == State::kStopping || state_ == State::kStopped) return false;
    // A connect retry or a restart backoff must not fire into the stop.
    timer_->cancel();
    if (!pidfd_) {
        state_ = State::kStopped;
        if (hooks_.stopped) hooks_.stopped();
        return false;
    }
    state_ = State::kStopping;
    log::info("dom{}: stopping worker pid {}", domid_, pid_);
    pidfd_signal(pidfd_.get(), SIGTERM);
    return true;
}

void WorkerProcess::kill() {
    if (!pidfd_) return;
    if (state_ == State::kStopping) log::warn("dom{}: worker pid {} ignored SIGTERM, killing it", domid_, pid_);
    pidfd_signal(pidfd_.get(), SIGKILL);
}

void WorkerProcess::abandon() {
    timer_->cancel();
    client_.reset();  // the worker keeps running when its control connection closes
    if (pidfd_) {
        loop_.remove(pidfd_.get());
        pidfd_.reset();
    }
    state_ = State::kStopped;
}

void WorkerProcess::fire_timer() {
    switch (state_) {
        case State::kStarting: try_connect(); break;
        case State::kAdopting:
            log::error("dom{}: adopted worker pid {} does not answer on {}; killing it", domid_, pid_, control_path());
            killed_for_timeout_ = true;
            if (pidfd_) pidfd_signal(pidfd_.get(), SIGKILL);  // on_exit() starts a fresh one
            break;
        case State::kBackoff:
            ++restarts_;
            if (auto r = spawn(); !r) {
                log::error("dom{}: {}", domid_, r.error().message);
                schedule_restart(r.error().message);
            }
            break;
        case State::kStopping: kill(); break;
        case State::kReplacing:
            log::warn("dom{}: worker pid {} left behind by an earlier xenvhostd ignored SIGTERM, killing it", domid_,
                      pid_);
            if (pidfd_) pidfd_signal(pidfd_.get(), SIGKILL);
            break;
        default: break;
    }
}

void WorkerProcess::on_lost(const std::string& reason) {
    // Called from inside the client; it is destroyed later, not under its own feet.
    std::shared_ptr<control::Client> doomed(std::move(client_));
    loop_.defer([doomed] {});
    if (state_ == State::kStopping || state_ == State::kStopped) return;
    log::warn("dom{}: worker pid {}: {}; killing it", domid_, pid_, reason);
    for (auto& [name, _] : std::map<std::string, bool>(removing_)) {
        removing_.erase(name);
        erase_device(name);
        if (hooks_.removed) hooks_.removed(name);
    }
    if (pidfd_) pidfd_signal(pidfd_.get(), SIGKILL);
}

void WorkerProcess::on_exit() {
    int status = 0;
    pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
    if (reaped == 0) return;  // not exited after all
    // An adopted worker is not our child: the readable pidfd is all we learn.
    bool unknown = reaped < 0 && errno == ECHILD;
    if (reaped < 0 && !unknown) return;
    loop_.remove(pidfd_.get());
    pidfd_.reset();
    client_.reset();
    ::unlink((dir() + "/worker.pid").c_str());
    std::string how = killed_for_timeout_ ? "did not answer on its control socket in time"
                      : unknown         ? "exited (not our child: its status went to its parent)"
                                        : describe_exit_status(status);
    auto alive = alive_;
    auto pending_removals = std::move(removing_);
    removing_.clear();
    for (auto& [name, _] : pending_removals) {
        erase_device(name);
        if (hooks_.removed) hooks_.removed(name);
        if (!*alive) return;
    }
    if (state_ == State::kStopping) {
        log::info("dom{}: worker pid {} {}", domid_, pid_, how);
        state_ = State::kStopped;
        timer_->cancel();
        if (hooks_.stopped) hooks_.stopped();
        return;
    }
    if (state_ == State::kReplacing) {
        timer_->cancel();
        log::info("dom{}: worker pid {} left behind by an earlier xenvhostd is gone", domid_, pid_);
        if (auto r = spawn(); !r) {
            log::error("dom{}: {}", domid_, r.error().message);
            schedule_restart(r.error().message);
        }
        return;
    }
    schedule_restart(fmt::format("worker pid {} {}", pid_, how));
}

void WorkerProcess::schedule_restart(const std::string& reason) {
    auto now = Clock::now();
    deaths_.push_back(now);
    auto window = std::chrono::seconds(options_.restart_window_s);
    while (!deaths_.empty() && now - deaths_.front() > window) deaths_.pop_front();
    if (deaths_.size() > options_.max_restarts) {
        state_ = State::kGivenUp;
        timer_->cancel();
        std::string why = fmt::format("{}; gave up after {} restarts within {} s", reason, restarts_,
                                      options_.restart_window_s);
        log::error("dom{}: {}", domid_, why);
        if (hooks_.given_up) hooks_.given_up(why);
        return;
    }
    unsigned shift = std::min<size_t>(deaths_.size() - 1, 16);
    auto delay = std::min<uint64_t>(uint64_t{options_.backoff_initial_ms} << shift, options_.backoff_max_ms);
    state_ = State::kBackoff;
    log::warn("dom{}: {}; restarting it in {} ms", domid_, reason, delay);
    timer_->arm(std::chrono::milliseconds(delay));
    if (hooks_.died) hooks_.died(reason, restarts_);
}

}  // namespace xenvhost::daemon
