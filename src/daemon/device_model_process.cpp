#include "daemon/device_model_process.hpp"

#include "base/log.hpp"
#include "daemon/child_process.hpp"
#include "xen/device_model.hpp"
#include "xen/ioreq_server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>

namespace xenvhost::daemon {
namespace {

constexpr size_t kMaxReport = 64 * 1024;

std::vector<std::string> arguments(const DeviceModelLaunch& l) {
    std::vector<std::string> a{"--domid", std::to_string(l.domid), "--vcpus", std::to_string(l.vcpus),
                               "--ram", l.ram, "--ready-fd", "3"};
    for (const auto& d : l.devices) {
        a.push_back("--device");
        a.push_back(d);
    }
    a.insert(a.end(), l.sandbox.begin(), l.sandbox.end());
    if (!l.log_level.empty()) {
        a.push_back("--log-level");
        a.push_back(l.log_level);
    }
    return a;
}

}  // namespace

Result<DeviceModelReport> parse_ready_report(std::string_view text) {
    DeviceModelReport r;
    while (!text.empty()) {
        const size_t nl = text.find('\n');
        if (nl == std::string_view::npos) return fail("report line '{}' has no end", text);
        const std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        if (line == "ready") {
            r.ready = true;
        } else if (line.starts_with("ioreq-server ")) {
            const std::string_view id = line.substr(13);
            uint16_t v = 0;
            auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), v);
            if (ec != std::errc{} || end != id.data() + id.size()) return fail("report: bad server id '{}'", id);
            r.ioreq_server = v;
        } else if (line.starts_with("device ")) {
            const std::string_view rest = line.substr(7);
            const size_t sp = rest.find(' ');
            if (sp == std::string_view::npos || sp == 0) return fail("report: bad device line '{}'", line);
            r.placement[std::string(rest.substr(0, sp))] = std::string(rest.substr(sp + 1));
        } else {
            return fail("report: unknown line '{}'", line);
        }
    }
    return r;
}

Result<std::unique_ptr<DeviceModelProcess>> DeviceModelProcess::start(event::EventLoop& loop, DeviceModelLaunch launch,
                                                                      Hooks hooks) {
    auto p = std::make_unique<DeviceModelProcess>(loop, std::move(launch), std::move(hooks));
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) return fail_errno("pipe for the device model's report");
    UniqueFd read_end(fds[0]), write_end(fds[1]);
    auto child = spawn_child(p->launch_.program, arguments(p->launch_), write_end.get());
    if (!child) return pass(child.error());
    p->pid_ = child->pid;
    p->pidfd_ = std::move(child->pidfd);
    p->report_fd_ = std::move(read_end);
    DeviceModelProcess* self = p.get();
    auto grace = event::Timer::create(loop, [self] { self->kill(); });
    if (!grace) return pass(grace.error());
    p->grace_ = std::move(*grace);
    if (auto ok = loop.add(p->report_fd_.get(), EPOLLIN, [self](uint32_t) { self->on_report_readable(); }); !ok)
        return pass(ok.error());
    if (auto ok = loop.add(p->pidfd_.get(), EPOLLIN, [self](uint32_t) { self->on_exit(); }); !ok) {
        loop.remove(p->report_fd_.get());
        return pass(ok.error());
    }
    log::info("dom{}: started device model pid {} for {} device(s)", p->launch_.domid, p->pid_,
              p->launch_.devices.size());
    return p;
}

DeviceModelProcess::~DeviceModelProcess() {
    if (report_fd_) loop_.remove(report_fd_.get());
    if (pidfd_) {
        loop_.remove(pidfd_.get());
        pidfd_signal(pidfd_.get(), SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        destroy_left_over_server();
    }
}

void DeviceModelProcess::on_report_readable() {
    char buf[4096];
    const ssize_t n = ::read(report_fd_.get(), buf, sizeof buf);
    if (n > 0 && report_text_.size() + static_cast<size_t>(n) <= kMaxReport) {
        report_text_.append(buf, static_cast<size_t>(n));
        return;
    }
    loop_.remove(report_fd_.get());
    report_fd_.reset();
    auto report = parse_ready_report(report_text_);
    if (!report || !report->ready) return;  // it is exiting; on_exit says why
    report_ = std::move(*report);
    if (hooks_.ready) hooks_.ready(report_);
}

void DeviceModelProcess::on_exit() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    loop_.remove(pidfd_.get());
    pidfd_.reset();
    grace_->cancel();
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    // A clean exit took its server with it; anything else may have left it.
    if (!clean) destroy_left_over_server();
    const std::string how = describe_exit_status(status);
    log::info("dom{}: device model pid {} {}", launch_.domid, pid_, how);
    if (stopping_) {
        if (hooks_.stopped) hooks_.stopped();
        return;
    }
    if (hooks_.failed) hooks_.failed(fmt::format("device model {}", how));
}

void DeviceModelProcess::stop() {
    if (begin_stop()) grace_->arm(kStopGrace);
}

void DeviceModelProcess::terminate() { begin_stop(); }

bool DeviceModelProcess::begin_stop() {
    if (stopping_) return false;
    stopping_ = true;
    if (!pidfd_) {
        if (hooks_.stopped) loop_.defer(hooks_.stopped);
        return false;
    }
    pidfd_signal(pidfd_.get(), SIGTERM);
    return true;
}

void DeviceModelProcess::kill() {
    if (!pidfd_) return;
    if (stopping_) log::warn("dom{}: device model pid {} ignored SIGTERM; killing it", launch_.domid, pid_);
    pidfd_signal(pidfd_.get(), SIGKILL);
}

void DeviceModelProcess::abandon() {
    if (report_fd_) loop_.remove(report_fd_.get());
    report_fd_.reset();
    if (pidfd_) loop_.remove(pidfd_.get());
    pidfd_.reset();
    grace_->cancel();
    hooks_ = {};
}

void DeviceModelProcess::destroy_left_over_server() {
    if (!report_.ioreq_server) return;
    auto dm = xen::DeviceModel::open(launch_.domid);
    Result<> ok = dm ? xen::IoreqServer::destroy_left_over(**dm, *report_.ioreq_server) : pass(dm.error());
    if (ok) log::info("dom{}: destroyed ioreq server {} left by the device model", launch_.domid, *report_.ioreq_server);
    else log::debug("dom{}: {}", launch_.domid, ok.error().message);  // usually gone with the domain
    report_.ioreq_server.reset();
}

}  // namespace xenvhost::daemon
