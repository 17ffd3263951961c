// libxenevtchn, as a device model calls it, across processes: the guest's
// vCPU ports and a handle's bound ports meet through unix datagram sockets in
// $XENDOUBLE_DIR, each datagram one event naming the port it is for (see
// ioreq_layout.hpp). xenevtchn_fd is the handle's socket, so it polls
// readable when the guest signals. Delivery follows Linux's evtchn device: a
// delivered port stays masked until xenevtchn_unmask, and an event arriving
// meanwhile is delivered again at the unmask, not twice.

#include "xendouble/guest_state.hpp"
#include "xendouble/ioreq_state.hpp"

#include <sys/socket.h>
#include <sys/un.h>

extern "C" {
#include <xenevtchn.h>
}

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

using xenvhost::UniqueFd;
using namespace xenvhost::xendouble;

namespace {

bool make_address(const std::string& path, sockaddr_un& addr) {
    addr = {};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return true;
}

// One event to `path`. A missing or full receiver loses it, as an event to
// a closed port or to one already pending would be.
void send_event(int fd, const UniqueFd& connected, const std::string& path, uint32_t port) {
    // A sandboxed device model (a private root, no open/bind) reaches no path:
    // the socket connected while it could.
    if (connected && ::send(connected.get(), &port, sizeof port, MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof port) return;
    sockaddr_un addr;
    if (!make_address(path, addr)) return;
    ::sendto(fd, &port, sizeof port, MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr),
             sizeof addr);
}

// A datagram socket connected to `path`, made while the caller may still
// create sockets and reach paths; empty if it cannot be.
UniqueFd connect_to(const std::string& path) {
    sockaddr_un addr;
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd || !make_address(path, addr) || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return UniqueFd();
    return fd;
}

}  // namespace

struct xenevtchn_handle {
    struct Port {
        unsigned vcpu;
        bool masked = false;
        bool pending = false;  // an event came while masked
        UniqueFd to_guest;     // connected to the guest's port at bind
    };
    std::shared_ptr<IoreqState> state;
    UniqueFd sock;
    uint32_t id = 0;
    std::string path;
    UniqueFd to_self;  // connected to `path` at open, for the re-delivery at unmask
    std::mutex mutex;
    int64_t restricted = -1;
    std::map<uint32_t, Port> ports;  // local port -> the vCPU whose guest port it is bound to

    // The guest's port of this binding is free again for a new bind, as
    // Xen's closing one end of an interdomain channel leaves the other unbound.
    void release(uint32_t local, const Port& p) {
        auto lock = state->lock();
        DmBinding& b = state->dm().bindings[p.vcpu];
        if (b.state == kPortBound && b.local_port == local && b.handle == id)
            IoreqState::publish(b.state, static_cast<uint32_t>(kPortUnbound));
    }
    ~xenevtchn_handle() {
        for (const auto& [local, p] : ports) release(local, p);
        if (!path.empty()) ::unlink(path.c_str());
    }
};

namespace {

int refuse(xenevtchn_handle* h, int e, const char* what) {
    h->state->count(kDmFailures);
    note(false, "evtchn: %s: %s", what, std::strerror(e));
    errno = e;
    return -1;
}

}  // namespace

extern "C" {

xenevtchn_handle* xenevtchn_open(struct xentoollog_logger*, unsigned flags) {
    auto state = IoreqState::open_from_env("xenevtchn_open");
    if (!state) return nullptr;
    auto h = std::make_unique<xenevtchn_handle>();
    h->state = std::move(state);
    {
        auto lock = h->state->lock();
        h->id = std::atomic_ref<uint32_t>(h->state->dm().next_handle).fetch_add(1);
    }
    const int cloexec = (flags & XENEVTCHN_NO_CLOEXEC) ? 0 : SOCK_CLOEXEC;
    h->sock = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | cloexec, 0));
    sockaddr_un addr;
    const std::string path = dm_handle_socket(h->state->dir(), h->id);
    if (!h->sock || !make_address(path, addr)) {
        note(true, "xenevtchn_open: cannot make a socket at %s (path too long?)", path.c_str());
        errno = ENAMETOOLONG;
        return nullptr;
    }
    ::unlink(path.c_str());  // left by a handle of a process that died
    if (::bind(h->sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        int e = errno;
        note(true, "xenevtchn_open: bind %s: %s", path.c_str(), std::strerror(e));
        errno = e;
        return nullptr;
    }
    h->path = path;
    h->to_self = connect_to(path);
    note(false, "evtchn: handle %u at %s", h->id, path.c_str());
    return h.release();  // owned by the caller until xenevtchn_close
}

int xenevtchn_close(xenevtchn_handle* xce) {
    std::unique_ptr<xenevtchn_handle> owned(xce);
    return 0;
}

int xenevtchn_fd(xenevtchn_handle* xce) { return xce->sock.get(); }

int xenevtchn_restrict(xenevtchn_handle* xce, domid_t domid) {
    std::lock_guard lock(xce->mutex);
    // Linux's evtchn device: a handle is restricted once.
    if (xce->restricted >= 0) return refuse(xce, EBUSY, "restrict: already restricted");
    xce->restricted = domid;
    return 0;
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle* xce, uint32_t domid,
                                                     evtchn_port_t remote_port) {
    std::lock_guard guard(xce->mutex);
    IoreqState& s = *xce->state;
    if (int e = domain_error(s.domid(), xce->restricted, domid)) return refuse(xce, e, "bind_interdomain");
    auto lock = s.lock();
    DmState& dm = s.dm();
    const unsigned vcpu = remote_port - kGuestPortBase;
    // Xen: the remote port must exist and be unbound, waiting for us.
    if (!dm.server_exists || remote_port < kGuestPortBase || vcpu >= s.vcpus() ||
        dm.bindings[vcpu].state != kPortUnbound)
        return refuse(xce, EINVAL, "bind_interdomain: not an unbound port of the guest's vCPUs");
    const uint32_t local = std::atomic_ref<uint32_t>(dm.next_local_port).fetch_add(1) + 1;
    DmBinding& b = dm.bindings[vcpu];
    IoreqState::publish(b.local_port, local);
    IoreqState::publish(b.handle, xce->id);
    IoreqState::publish(b.state, static_cast<uint32_t>(kPortBound));
    xce->ports[local] = {vcpu, false, false, connect_to(guest_port_socket(s.dir(), remote_port))};
    note(false, "evtchn: guest port %u (vCPU %u) bound to local port %u", remote_port, vcpu, local);
    return static_cast<xenevtchn_port_or_error_t>(local);
}

int xenevtchn_unbind(xenevtchn_handle* xce, evtchn_port_t port) {
    std::lock_guard guard(xce->mutex);
    auto it = xce->ports.find(port);
    if (it == xce->ports.end()) return refuse(xce, ENOTCONN, "unbind: port not bound by this handle");
    xce->release(it->first, it->second);
    xce->ports.erase(it);
    return 0;
}

int xenevtchn_notify(xenevtchn_handle* xce, evtchn_port_t port) {
    std::lock_guard guard(xce->mutex);
    auto it = xce->ports.find(port);
    if (it == xce->ports.end()) return refuse(xce, ENOTCONN, "notify: port not bound by this handle");
    IoreqState& s = *xce->state;
    const unsigned vcpu = it->second.vcpu;
    {
        auto lock = s.lock();
        const DmBinding& b = s.dm().bindings[vcpu];
        // The guest's end closed (server destroyed): the event goes nowhere.
        if (b.state != kPortBound || b.local_port != port || b.handle != xce->id) return 0;
    }
    const uint8_t flags = std::atomic_ref<uint8_t>(s.slot(vcpu)[kIoreqFlags]).load(std::memory_order_acquire);
    if ((flags & kFlagStateMask) == 3 /* STATE_IORESP_READY */) s.count(kIoreqsAnswered);
    s.count(kDmNotifies);
    send_event(xce->sock.get(), it->second.to_guest, guest_port_socket(s.dir(), kGuestPortBase + vcpu),
               kGuestPortBase + vcpu);
    return 0;
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle* xce) {
    std::lock_guard guard(xce->mutex);
    for (;;) {
        uint32_t port = 0;
        ssize_t n = ::recv(xce->sock.get(), &port, sizeof port, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        // Nothing deliverable (or only events for masked ports): as a read
        // of a non-blocking evtchn device, rather than blocking the caller.
        if (n < 0) return -1;
        if (n != sizeof port) continue;
        auto it = xce->ports.find(port);
        if (it == xce->ports.end()) continue;  // unbound since
        if (it->second.masked) {
            it->second.pending = true;
            continue;
        }
        it->second.masked = true;
        xce->state->count(kGuestSignals);
        return static_cast<xenevtchn_port_or_error_t>(port);
    }
}

int xenevtchn_unmask(xenevtchn_handle* xce, evtchn_port_t port) {
    std::lock_guard guard(xce->mutex);
    auto it = xce->ports.find(port);
    if (it == xce->ports.end()) return refuse(xce, ENOTCONN, "unmask: port not bound by this handle");
    it->second.masked = false;
    if (it->second.pending) {
        it->second.pending = false;
        send_event(xce->sock.get(), xce->to_self, xce->path, port);  // makes the fd readable again
    }
    return 0;
}

}  // extern "C"
