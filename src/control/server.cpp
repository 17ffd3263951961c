#include "control/server.hpp"

#include "base/log.hpp"
#include "control/fd_passing.hpp"
#include "control/protocol.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace xenvhost::control {
namespace {
// A client that stops reading is dropped rather than growing our memory.
constexpr size_t kMaxPendingOut = 1 << 20;
constexpr size_t kMaxClients = 16;
}  // namespace

Result<std::unique_ptr<Server>> Server::create(event::EventLoop& loop, Handler& handler,
                                                               std::string path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return fail("control socket path '{}' is empty or longer than {} bytes", path, sizeof addr.sun_path - 1);
    std::memcpy(addr.sun_path, path.data(), path.size());

    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("control socket");
    // A socket left behind by a previous process would make bind fail.
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        return fail_errno("bind control socket {}", path);
    // Only root and our own user may steer the program.
    if (::chmod(path.c_str(), 0600) < 0) {
        auto err = fail_errno("chmod control socket {}", path);
        ::unlink(path.c_str());
        return err;
    }
    if (::listen(fd.get(), 8) < 0) {
        auto err = fail_errno("listen on control socket {}", path);
        ::unlink(path.c_str());
        return err;
    }
    int lfd = fd.get();
    std::unique_ptr<Server> ch(new Server(loop, handler, std::move(path), std::move(fd)));
    Server* self = ch.get();
    if (auto r = loop.add(lfd, EPOLLIN, [self](uint32_t) { self->on_accept(); }); !r) {
        ::unlink(self->path_.c_str());
        return std::unexpected(r.error());
    }
    return ch;
}

Server::~Server() {
    for (auto& [fd, c] : clients_) loop_.remove(fd);
    clients_.clear();
    loop_.remove(listener_.get());
    if (owns_path_) ::unlink(path_.c_str());
}

void Server::on_accept() {
    for (;;) {
        UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            if (errno != EAGAIN && errno != EINTR) log::warn("control socket {}: accept: {}", path_, std::strerror(errno));
            return;
        }
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
            (cred.uid != 0 && cred.uid != ::getuid())) {
            log::warn("control socket {}: refusing a client of uid {}", path_, cred.uid);
            continue;
        }
        if (clients_.size() >= kMaxClients) {
            log::warn("control socket {}: too many clients, refusing one", path_);
            continue;
        }
        int raw = fd.get();
        auto client = std::make_unique<Client>();
        client->fd = std::move(fd);
        if (auto r = loop_.add(raw, EPOLLIN, [this, raw](uint32_t ev) { on_client(raw, ev); }); !r) {
            log::warn("control socket {}: {}", path_, r.error().message);
            continue;
        }
        clients_.emplace(raw, std::move(client));
        log::debug("control socket {}: client connected (pid {})", path_, cred.pid);
    }
}

void Server::on_client(int fd, uint32_t events) {
    auto it = clients_.find(fd);
    if (it == clients_.end()) return;
    Client& c = *it->second;
    if (events & EPOLLOUT) flush(c);
    if (!c.dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        char buf[4096];
        for (;;) {
            ssize_t n = receive_with_fds(fd, buf, sizeof buf, c.fds);
            if (n > 0) {
                c.in.append(buf, static_cast<size_t>(n));
                size_t start = 0, nl;
                while (!c.dead && (nl = c.in.find('\n', start)) != std::string::npos) {
                    std::string_view line(c.in.data() + start, nl - start);
                    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
                    handle_line(c, line);
                    start = nl + 1;
                }
                c.in.erase(0, start);
                if (c.fds.size() > 2 * kMaxFdsPerLine) {
                    send(c, format_reply(ErrorReply{"fds sent without the lines that claim them"}));
                    c.dead = true;
                }
                if (c.in.size() >= kMaxLine) {
                    send(c, format_reply(ErrorReply{"line too long"}));
                    c.dead = true;
                }
                if (c.dead) break;
                continue;
            }
            if (n == 0) c.dead = true;  // the client closed its end
            else if (errno == EINTR) continue;
            else if (errno != EAGAIN) c.dead = true;
            break;
        }
    }
    if (c.dead) drop(fd);
}

void Server::handle_line(Client& c, std::string_view line) {
    auto cmd = parse_command(line);
    if (!cmd) {
        log::warn("control socket {}: bad command: {}", path_, cmd.error().message);
        send(c, format_reply(ErrorReply{cmd.error().message}));
        return;
    }
    std::string reply;
    if (auto* add = std::get_if<AddCommand>(&*cmd)) {
        auto r = this->add(c, *add);
        reply = r ? format_reply(OkReply{})
                  : format_reply(ErrorReply{r.error().message});
    } else if (auto* rm = std::get_if<RemoveCommand>(&*cmd)) {
        auto r = handler_.remove_device(rm->name);
        reply = r ? format_reply(OkReply{})
                  : format_reply(ErrorReply{r.error().message});
    } else if (std::holds_alternative<StatusCommand>(*cmd)) {
        for (const auto& d : handler_.status()) reply += format_reply(DeviceLine{d});
        reply += format_reply(EndReply{});
    } else {
        reply = format_reply(OkReply{});
    }
    send(c, reply);
}

Result<> Server::add(Client& c, AddCommand& add) {
    // The fds arrive no later than the line's last byte, in the order sent.
    const size_t wanted = size_t{add.passes_blk_fd} + size_t{add.passes_socket_fd};
    if (c.fds.size() < wanted) {
        c.fds.clear();
        return fail("add {}: the fds it announces did not come with it", add.spec.name);
    }
    UniqueFd blk, sock;
    if (add.passes_blk_fd) blk = std::move(c.fds.front()), c.fds.pop_front();
    if (add.passes_socket_fd) sock = std::move(c.fds.front()), c.fds.pop_front();
    add.spec.blk_fd = blk.get();
    add.spec.socket_fd = sock.get();
    // The handler keeps duplicates of what it uses; ours close here.
    return handler_.add_device(add.spec);
}

void Server::notify(const DeviceStatus& status) {
    std::string line = format_reply(EventLine{status});
    for (auto& [fd, c] : clients_)
        if (!c->dead) send(*c, line);
    // Dead clients are dropped from their own callback: epoll reports the error there.
}

void Server::send(Client& c, std::string_view data) {
    if (c.out.size() + data.size() > kMaxPendingOut) {
        log::warn("control socket {}: client does not read its replies, dropping it", path_);
        c.dead = true;
        ::shutdown(c.fd.get(), SHUT_RDWR);
        return;
    }
    c.out.append(data);
    flush(c);
}

void Server::flush(Client& c) {
    while (!c.out.empty()) {
        ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
            c.out.erase(0, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        c.dead = true;
        ::shutdown(c.fd.get(), SHUT_RDWR);
        return;
    }
    update_poll(c);
}

void Server::update_poll(Client& c) {
    bool want_out = !c.out.empty();
    if (want_out == c.polling_out) return;
    int fd = c.fd.get();
    loop_.remove(fd);
    uint32_t events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
    if (auto r = loop_.add(fd, events, [this, fd](uint32_t ev) { on_client(fd, ev); }); !r) {
        c.dead = true;
        ::shutdown(fd, SHUT_RDWR);
        return;
    }
    c.polling_out = want_out;
}

void Server::drop(int fd) {
    loop_.remove(fd);
    clients_.erase(fd);
}

}  // namespace xenvhost::control
