#include "control/client.hpp"

#include "base/log.hpp"
#include "control/codec.hpp"
#include "control/fd_passing.hpp"
#include "control/replies.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace xenvhost::control {

Result<std::unique_ptr<Client>> Client::connect(event::EventLoop& loop, const std::string& path,
                                                              Callbacks callbacks) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return fail("control socket path {} is too long", path);
    std::memcpy(addr.sun_path, path.data(), path.size());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        // Nobody listening (yet): the peer is not there, which a caller that
        // just started it may wait out. Anything else is our own failure.
        const bool absent = errno == ENOENT || errno == ECONNREFUSED || errno == EAGAIN;
        return fail_errno_as(absent ? ErrorKind::kPeerGone : ErrorKind::kInternal, "connect {}", path);
    }
    int raw = fd.get();
    std::unique_ptr<Client> c(new Client(loop, std::move(fd), path, std::move(callbacks)));
    Client* self = c.get();
    if (auto r = loop.add(raw, EPOLLIN, [self](uint32_t ev) { self->on_ready(ev); }); !r)
        return std::unexpected(r.error());
    return c;
}

Client::~Client() {
    *alive_ = false;
    loop_.remove(fd_.get());
}

void Client::send_line(std::string line, bool is_status, ReplyFn reply, std::vector<UniqueFd> fds) {
    pending_.push_back({is_status, std::move(reply), {}});
    if (!fds.empty()) attached_.emplace_back(out_.size(), std::move(fds));
    out_ += line;
    flush();
}

bool Client::flush() {
    while (!out_.empty()) {
        // Bytes up to the next line with fds; that line's fds with its first byte.
        size_t limit = out_.size();
        std::vector<int> fds;
        if (!attached_.empty() && attached_.front().first == 0) {
            for (auto& fd : attached_.front().second) fds.push_back(fd.get());
            if (attached_.size() > 1) limit = attached_[1].first;
        } else if (!attached_.empty()) {
            limit = attached_.front().first;
        }
        ssize_t n = send_with_fds(fd_.get(), std::string_view(out_.data(), limit), fds);
        if (n > 0) {
            out_.erase(0, static_cast<size_t>(n));
            if (!fds.empty()) attached_.pop_front();  // ours close: the peer has its own now
            for (auto& a : attached_) a.first -= static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        // Reported through on_ready (EPOLLHUP/EPOLLERR), never from inside send().
        ::shutdown(fd_.get(), SHUT_RDWR);
        return false;
    }
    bool want_out = !out_.empty();
    if (want_out != polling_out_) {
        (void)loop_.modify(fd_.get(), EPOLLIN | (want_out ? EPOLLOUT : 0u));
        polling_out_ = want_out;
    }
    return true;
}

void Client::lose(const std::string& reason) {
    pending_.clear();
    auto lost = cb_.lost;  // may destroy us
    if (lost) lost(reason);
}

void Client::on_ready(uint32_t events) {
    auto alive = alive_;
    if (events & EPOLLOUT) flush();
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd_.get(), buf, sizeof buf);
        if (n > 0) {
            in_.append(buf, static_cast<size_t>(n));
            size_t start = 0, nl;
            while ((nl = in_.find('\n', start)) != std::string::npos) {
                std::string line = in_.substr(start, nl - start);
                start = nl + 1;
                if (!handle_line(line) || !*alive) return;
            }
            in_.erase(0, start);
            if (in_.size() >= kMaxLine)
                return lose(fmt::format("{} sent a line longer than the protocol allows", cb_.peer));
            continue;
        }
        if (n == 0) return lose(fmt::format("{} closed the control connection", cb_.peer));
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        return lose(fmt::format("control connection: {}", std::strerror(errno)));
    }
}

bool Client::handle_line(std::string_view line) {
    auto alive = alive_;
    auto reply = parse_reply(line);
    if (!reply) {
        lose(fmt::format("{} sent a malformed line: {}", cb_.peer, reply.error().message));
        return false;
    }
    if (auto* ev = std::get_if<EventLine>(&*reply)) {
        if (cb_.event) cb_.event(ev->status);
        return *alive;
    }
    if (pending_.empty()) {
        lose(fmt::format("{} sent a reply nobody asked for", cb_.peer));
        return false;
    }
    Pending& p = pending_.front();
    if (auto* dev = std::get_if<DeviceLine>(&*reply)) {
        if (!p.is_status) {
            lose(fmt::format("{} sent a device line outside a status reply", cb_.peer));
            return false;
        }
        p.devices.push_back(std::move(dev->status));
        return true;
    }
    Result<std::vector<DeviceStatus>> result;
    if (auto* err = std::get_if<ErrorReply>(&*reply)) {
        result = std::unexpected(Error{err->reason, 0});
    } else if (std::holds_alternative<EndReply>(*reply) != p.is_status) {
        lose(fmt::format("{}'s reply does not match the command", cb_.peer));
        return false;
    } else {
        result = std::move(p.devices);
    }
    ReplyFn fn = std::move(p.reply);
    pending_.pop_front();
    if (fn) fn(std::move(result));
    return *alive;
}

}  // namespace xenvhost::control
