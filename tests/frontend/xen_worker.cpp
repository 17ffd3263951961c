#include "frontend/xen_worker.hpp"

#include "control/protocol.hpp"
#include "frontend/clock.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>

namespace xenvhost::frontend {

namespace {

// Sets variables for the children spawned while it lives (BackendProcess
// passes this process's environment on), then restores them.
class ScopedEnv {
public:
    void set(const std::string& name, const std::string& value) {
        const char* old = std::getenv(name.c_str());
        saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
        ::setenv(name.c_str(), value.c_str(), 1);
    }
    ~ScopedEnv() {
        for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
            if (it->second)
                ::setenv(it->first.c_str(), it->second->c_str(), 1);
            else
                ::unsetenv(it->first.c_str());
        }
    }

private:
    std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

}  // namespace

XenWorkerOptions xen_worker_defaults(const std::string& build_bin) {
    XenWorkerOptions o;
    const char* worker = std::getenv("XENVHOST_WORKER");
    o.program = worker && *worker ? worker : build_bin + "/xenvhost-worker";
    const char* lib = std::getenv("XENDOUBLE_LIB");
    o.double_lib = lib && *lib ? lib : build_bin + "/../lib/libxendouble.so";
    return o;
}

Result<std::vector<control::DeviceStatus>> control_status(const std::string& socket_path, int timeout_ms) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path) return fail("control socket path too long");
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("socket");
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return fail_errno("connect {}", socket_path);
    const std::string cmd = control::format_command(control::StatusCommand{});
    if (::send(fd.get(), cmd.data(), cmd.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(cmd.size()))
        return fail_errno("send status");
    std::vector<control::DeviceStatus> devices;
    std::string buf;
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
            std::string line = buf.substr(0, nl);
            buf.erase(0, nl + 1);
            auto reply = control::parse_reply(line);
            if (!reply) return fail("control reply '{}': {}", line, reply.error().message);
            if (auto* d = std::get_if<control::DeviceLine>(&*reply)) devices.push_back(d->status);
            if (std::holds_alternative<control::EndReply>(*reply)) return devices;
            if (auto* e = std::get_if<control::ErrorReply>(&*reply)) return fail("status: {}", e->reason);
            // Event lines may come in between; they are not the answer.
        }
        const int64_t left = deadline - now_ms();
        if (left <= 0) return fail("no complete status answer within {} ms", timeout_ms);
        pollfd pfd{fd.get(), POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left)) < 0 && errno != EINTR) return fail_errno("poll");
        char chunk[4096];
        ssize_t n = ::recv(fd.get(), chunk, sizeof chunk, MSG_DONTWAIT);
        if (n == 0) return fail("control socket closed before the status answer ended");
        if (n < 0 && errno != EAGAIN && errno != EINTR) return fail_errno("recv");
        if (n > 0) buf.append(chunk, static_cast<size_t>(n));
        if (buf.size() > 64 * control::kMaxLine) return fail("status answer too long");
    }
}

Result<std::unique_ptr<XenWorker>> XenWorker::start(const XenWorkerOptions& opts) {
    auto w = std::make_unique<XenWorker>();
    w->opts_ = opts;
    auto dir = TempDir::create("xenvhost-xen");
    if (!dir) return std::unexpected(dir.error());
    w->dir_ = std::make_unique<TempDir>(std::move(*dir));
    w->socket_ = w->dir_->file("vhost.sock");
    w->image_ = w->dir_->file("disk.img");
    w->control_ = w->dir_->file("control.sock");
    if (auto r = create_image(w->image_, opts.image_size, opts.seed); !r) return std::unexpected(r.error());
    const std::string state = w->dir_->file("xen");
    if (::mkdir(state.c_str(), 0700) != 0) return fail_errno("mkdir {}", state);
    auto files = XenDoubleFiles::create(state, opts.guest_pages, opts.guest_domid);
    if (!files) return std::unexpected(files.error());
    w->files_ = std::make_unique<XenDoubleFiles>(std::move(*files));

    BackendOptions b;
    b.kind = BackendKind::kWorker;
    b.program = opts.program;
    b.socket_path = w->socket_;
    b.image_path = w->image_;
    b.log_path = w->dir_->file("worker.log");
    b.num_queues = opts.num_queues;
    b.serial = "xenvhost-xen-disk";
    if (opts.worker_domid) b.extra_args.insert(b.extra_args.end(), {"--domid", std::to_string(*opts.worker_domid)});
    if (opts.xen_flag) b.extra_args.push_back("--xen");
    if (!opts.foreign_map.empty()) b.extra_args.insert(b.extra_args.end(), {"--foreign-map", opts.foreign_map});
    if (opts.verify_guest_writes) b.extra_args.push_back("--verify-guest-writes");
    if (!opts.grant_access.empty()) b.extra_args.insert(b.extra_args.end(), {"--grant-access", opts.grant_access});
    if (opts.control_socket) b.extra_args.insert(b.extra_args.end(), {"--control-socket", w->control_});

    ScopedEnv env;
    if (!opts.double_lib.empty()) {
        if (::access(opts.double_lib.c_str(), R_OK) != 0) return fail_errno("mapping double {}", opts.double_lib);
        env.set("LD_PRELOAD", opts.double_lib);
        for (const auto& [k, v] : w->files_->environment()) env.set(k, v);
        // A sanitizer build wants its runtime first; the double is not instrumented.
        const char* asan = std::getenv("ASAN_OPTIONS");
        env.set("ASAN_OPTIONS", std::string(asan && *asan ? asan : "") + (asan && *asan ? ":" : "") +
                                    "verify_asan_link_order=0");
    }
    auto p = BackendProcess::start(b);
    if (!p) return std::unexpected(p.error());
    w->process_ = std::move(*p);
    return w;
}

Result<void> XenWorker::stop_clean() {
    if (!process_->alive())
        return fail("the worker died during the test ({})", describe_wait_status(process_->wait_status()));
    auto st = process_->stop();
    if (!st) return std::unexpected(st.error());
    if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0)
        return fail("the worker did not exit cleanly on SIGTERM: {}", describe_wait_status(*st));
    return {};
}

Result<control::DeviceStatus> XenWorker::status() const {
    if (!opts_.control_socket) return fail("the worker was started without a control socket");
    auto devices = control_status(control_);
    if (!devices) return std::unexpected(devices.error());
    if (devices->size() != 1) return fail("control status lists {} devices, expected 1", devices->size());
    return devices->front();
}

}  // namespace xenvhost::frontend
