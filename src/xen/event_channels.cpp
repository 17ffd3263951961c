#include "xen/event_channels.hpp"

extern "C" {
#include <xenevtchn.h>
}

#include <fcntl.h>

#include <cerrno>

namespace xenvhost::xen {
namespace {
xenevtchn_handle* h(void* p) { return static_cast<xenevtchn_handle*>(p); }
}  // namespace

Result<std::unique_ptr<EventChannels>> EventChannels::open() {
    xenevtchn_handle* handle = xenevtchn_open(nullptr, 0);
    if (!handle) return fail_errno("xenevtchn_open (/dev/xen/evtchn)");
    auto channels = std::make_unique<EventChannels>(handle);
    // Read on the event loop: pending() must not block when nothing is there.
    const int fd = channels->fd();
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return fail_errno("making the event-channel fd non-blocking");
    return channels;
}

// Closing the handle unbinds every port bound through it.
EventChannels::~EventChannels() { xenevtchn_close(h(handle_)); }

int EventChannels::fd() const { return xenevtchn_fd(h(handle_)); }

Result<> EventChannels::restrict_to(uint32_t domid) {
    if (xenevtchn_restrict(h(handle_), static_cast<domid_t>(domid)) < 0)
        return fail_errno("restricting the event-channel handle to domain {}", domid);
    return {};
}

Result<uint32_t> EventChannels::bind_interdomain(uint32_t domid, uint32_t remote_port) {
    xenevtchn_port_or_error_t port = xenevtchn_bind_interdomain(h(handle_), domid, remote_port);
    if (port < 0) return fail_errno("binding to port {} of domain {}", remote_port, domid);
    return static_cast<uint32_t>(port);
}

Result<> EventChannels::unbind(uint32_t local_port) {
    if (xenevtchn_unbind(h(handle_), local_port) < 0) return fail_errno("unbinding port {}", local_port);
    return {};
}

Result<> EventChannels::notify(uint32_t local_port) {
    if (xenevtchn_notify(h(handle_), local_port) < 0) return fail_errno("notifying port {}", local_port);
    return {};
}

Result<std::optional<uint32_t>> EventChannels::pending() {
    xenevtchn_port_or_error_t port = xenevtchn_pending(h(handle_));
    if (port < 0) {
        if (errno == EAGAIN) return std::optional<uint32_t>{};
        return fail_errno("reading a pending event channel");
    }
    return std::optional<uint32_t>{static_cast<uint32_t>(port)};
}

Result<> EventChannels::unmask(uint32_t local_port) {
    if (xenevtchn_unmask(h(handle_), local_port) < 0) return fail_errno("unmasking port {}", local_port);
    return {};
}

}  // namespace xenvhost::xen
