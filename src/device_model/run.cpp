#include "device_model/run.hpp"

#include "base/log.hpp"
#include "base/version.hpp"
#include "base/unique_fd.hpp"
#include "device_model/guest_device_model.hpp"
#include "device_model/options.hpp"
#include "event/event_loop.hpp"
#include "event/signal_fd.hpp"
#include "sandbox/sandbox.hpp"

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

namespace xenvhost::device_model {
namespace {

// The ready report goes to xenvhostd in one write, then the fd is closed so
// the reader sees its end.
void report_ready(int fd, const std::string& report) {
    if (fd < 0) return;
    UniqueFd out(fd);
    if (::write(out.get(), report.data(), report.size()) != static_cast<ssize_t>(report.size()))
        log::warn("ready report: {}", std::strerror(errno));
}

int serve(const DmOptions& opts, const RunHooks& hooks) {
    // A back-end that goes away mid-message must not kill the device model.
    std::signal(SIGPIPE, SIG_IGN);
    auto signals = event::block_into_signalfd({SIGTERM, SIGINT, SIGHUP, SIGUSR1});
    if (!signals) {
        log::error("{}", signals.error().message);
        return 1;
    }
    auto loop = event::EventLoop::create();
    if (!loop) {
        log::error("{}", loop.error().message);
        return 1;
    }
    auto model = GuestDeviceModel::create(**loop, opts);
    if (!model) {
        log::error("domain {}: {}", opts.domid, model.error().message);
        return 1;
    }
    // Everything is open: Xen handles (restricted to the guest), the ioreq
    // page, the devices' privcmd/gntdev fds and back-end connections. The
    // report follows the drop, so a device at state 2 is served sandboxed.
    const HookContext context{opts};
    if (hooks.before_sandbox) hooks.before_sandbox(context);
    if (opts.sandbox_user) {
        const auto reach = socket_directories(opts.devices);
        const sandbox::Plan plan{*opts.sandbox_user, opts.sandbox_root, opts.domid, sandbox::device_model_allowlist(),
                                 reach};
        if (auto r = sandbox::enter(plan); !r) {
            log::error("domain {}: cannot deprivilege: {}", opts.domid, r.error().message);
            return 1;
        }
    }
    if (hooks.after_sandbox) hooks.after_sandbox(context);
    report_ready(opts.ready_fd, (*model)->ready_report());
    (void)(*loop)->add(signals->get(), EPOLLIN, [&](uint32_t) {
        signalfd_siginfo info;
        if (::read(signals->get(), &info, sizeof info) != sizeof info || info.ssi_signo == SIGHUP) return;
        if (info.ssi_signo == SIGUSR1) return log::info("{}", (*model)->counters());  // an operator asks
        log::info("signal {}: taking the devices off domain {}'s bus", info.ssi_signo, opts.domid);
        (*loop)->stop();
    });
    auto ran = (*loop)->run();
    if (!ran) log::error("{}", ran.error().message);
    log::info("{}", (*model)->counters());
    model->reset();
    return ran ? 0 : 1;
}

}  // namespace

int run(int argc, char** argv, const RunHooks& hooks) {
    log::set_tag(fmt::format("xenvhost-dm[{}]", ::getpid()));
    auto opts = parse_dm_options(argc, argv);
    if (!opts) {
        std::fprintf(stderr, "xenvhost-dm: %s (see --help)\n", opts.error().message.c_str());
        return 1;
    }
    if (opts->help) {
        std::fputs(opts->help_text.c_str(), stdout);
        return 0;
    }
    if (opts->version) {
        std::fputs(version_line("xenvhost-dm").c_str(), stdout);
        return 0;
    }
    log::set_level(opts->log_level);
    return serve(*opts, hooks);
}

}  // namespace xenvhost::device_model
