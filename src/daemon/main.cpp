// xenvhostd: watches xenstore for the virtio devices the toolstack declares
// for guests and serves them through one xenvhost-worker per guest.

#include "base/log.hpp"
#include "base/version.hpp"
#include "daemon/daemon.hpp"
#include "daemon/fd_limit.hpp"
#include "daemon/options.hpp"
#include "daemon/sd_notify.hpp"
#include "event/event_loop.hpp"
#include "event/signal_fd.hpp"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

using namespace xenvhost;

int main(int argc, char** argv) {
    log::set_tag(fmt::format("xenvhostd[{}]", ::getpid()));
    auto options = daemon::parse_options(argc, argv);
    if (!options) {
        std::fprintf(stderr, "xenvhostd: %s (see --help)\n", options.error().message.c_str());
        return 1;
    }
    if (options->help) {
        std::fputs(daemon::usage().c_str(), stdout);
        return 0;
    }
    if (options->version) {
        std::fputs(version_line("xenvhostd").c_str(), stdout);
        return 0;
    }
    log::set_level(options->log_level);

    // Before any thread exists (libxenstore starts one), so every thread
    // inherits the mask and the signals reach only the signalfd.
    auto signals = event::block_into_signalfd({SIGTERM, SIGINT, SIGHUP});
    if (!signals) {
        log::error("{}", signals.error().message);
        return 1;
    }
    UniqueFd sigfd = std::move(*signals);
    ::signal(SIGPIPE, SIG_IGN);  // libxenstore flips it process-wide otherwise
    daemon::raise_fd_limit();

    std::error_code ec;
    std::filesystem::create_directories(options->run_dir, ec);
    if (ec) {
        log::error("cannot create run directory {}: {}", options->run_dir, ec.message());
        return 1;
    }

    auto created = event::EventLoop::create();
    if (!created) {
        log::error("{}", created.error().message);
        return 1;
    }
    auto loop = std::move(*created);
    auto d = daemon::Daemon::create(*options, *loop);
    if (!d) {
        log::error("{}", d.error().message);
        return 1;
    }
    daemon::Daemon* core = d->get();
    auto on_signal = [&](uint32_t) {
        signalfd_siginfo info;
        while (::read(sigfd.get(), &info, sizeof info) == sizeof info) {
            if (info.ssi_signo == SIGHUP) continue;  // nothing to reload; the config is read at start
            log::info("signal {} received; stopping", strsignal(static_cast<int>(info.ssi_signo)));
            core->shutdown([&] { loop->stop(); });
        }
    };
    if (auto r = loop->add(sigfd.get(), EPOLLIN, on_signal); !r) {
        log::error("{}", r.error().message);
        return 1;
    }
    daemon::sd_notify_message("READY=1");
    // xenstored may already have gone while the devices were taken over.
    if (auto r = core->exit_code() == 0 ? loop->run() : Result<>{}; !r) {
        log::error("{}", r.error().message);
        return 1;
    }
    daemon::sd_notify_message("STOPPING=1");
    int code = core->exit_code();
    loop->remove(sigfd.get());
    d->reset();
    log::info("stopped");
    return code;
}
