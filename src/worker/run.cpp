#include "worker/run.hpp"

#include "base/log.hpp"
#include "base/version.hpp"
#include "control/server.hpp"
#include "event/event_loop.hpp"
#include "event/signal_fd.hpp"
#include "memory/memory_builder.hpp"
#include "sandbox/sandbox.hpp"
#include "worker/options.hpp"
#include "worker/worker.hpp"

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

namespace xenvhost::worker {
namespace {

void print_counters(const worker::Worker& w) {
    for (const auto& s : w.status())
        log::info("device {}: {} requests, mapping {}, map calls {}, unmap calls {}, pages mapped {}, map failures {}, "
                  "grant access {}, copy calls {}, copy segments {}, copy failures {}",
                  s.name, s.requests, s.mapping, s.map_calls, s.unmap_calls, s.pages_mapped, s.map_failures,
                  s.grant_access, s.copy_calls, s.copy_segments, s.copy_failures);
}

}  // namespace

int run(int argc, char** argv, const RunHooks& hooks) {
    log::set_tag(fmt::format("xenvhost-worker[{}]", ::getpid()));
    auto opts = worker::parse_worker_options(argc, argv);
    if (!opts) {
        std::fprintf(stderr, "xenvhost-worker: %s (see --help)\n", opts.error().message.c_str());
        return 1;
    }
    if (opts->help) {
        std::fputs(opts->help_text.c_str(), stdout);
        return 0;
    }
    if (opts->version) {
        std::fputs(version_line("xenvhost-worker").c_str(), stdout);
        return 0;
    }
    if (opts->print_capabilities) {
        std::puts("{\"type\": \"block\", \"features\": [\"blk-file\", \"read-only\"]}");
        return 0;
    }
    log::set_level(opts->log_level);
    // A front-end that goes away mid-reply must not kill the worker.
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
    vhost_user::SessionOptions session;
    const memory::MemoryPolicy policy{opts->xen, opts->domid, opts->foreign_map_whole, opts->grant_access};
    session.verify_guest_writes = opts->verify_guest_writes;
    const memory::XenHandles handles = opts->xen ? memory::open_xen_handles(opts->domid) : memory::XenHandles{};
    session.memory = std::make_shared<const memory::MemoryBuilder>(policy, handles);
    worker::Worker w(**loop, session);
    std::unique_ptr<control::Server> control_server;
    if (!opts->control_socket.empty()) {
        auto c = control::Server::create(**loop, w, opts->control_socket);
        if (!c) {
            log::error("control socket: {}", c.error().message);
            return 1;
        }
        control_server = std::move(*c);
        w.on_status_change([&control_server](const control::DeviceStatus& s) { control_server->notify(s); });
    }
    for (const auto& spec : opts->devices) {
        UniqueFd given_socket(spec.socket_fd);  // --fd: the worker keeps its own duplicate
        if (auto r = w.add_device(spec); !r) {
            log::error("{}", r.error().message);
            return 1;
        }
    }
    // Everything is open (Xen handles, control socket, devices given on the
    // command line); later devices come as fds from xenvhostd.
    const HookContext context{opts->domid, handles};
    if (hooks.before_sandbox) hooks.before_sandbox(context);
    if (opts->sandbox_user) {
        const sandbox::Plan plan{*opts->sandbox_user, opts->sandbox_root, opts->domid, sandbox::worker_allowlist()};
        if (auto r = sandbox::enter(plan); !r) {
            log::error("cannot deprivilege: {}", r.error().message);
            return 1;
        }
        // An unlink at exit would be refused, and each refusal is an audit
        // record: with a thousand workers stopping, the kernel's audit backlog
        // made them wait on one another.
        if (control_server) control_server->leave_path();
        w.leave_socket_paths();
    }
    if (hooks.after_sandbox) hooks.after_sandbox(context);
    (void)(*loop)->add(signals->get(), EPOLLIN, [&](uint32_t) {
        signalfd_siginfo info;
        if (::read(signals->get(), &info, sizeof info) != sizeof info) return;
        if (info.ssi_signo == SIGHUP) {
            // The conventional "reload": pick up images that grew.
            w.refresh_config();
            return;
        }
        if (info.ssi_signo == SIGUSR1) {
            // An operator asks where each device stands.
            print_counters(w);
            w.report_queues();
            return;
        }
        log::info("signal {}: shutting down", info.ssi_signo);
        (*loop)->stop();
    });
    auto ran = (*loop)->run();
    if (!ran) log::error("{}", ran.error().message);
    print_counters(w);
    w.shutdown();
    control_server.reset();
    return ran ? 0 : 1;
}

}  // namespace xenvhost::worker
