// Event-channel loopback: two handles in dom0 bound to each other, the kick
// and call path a back-end uses, measured as notify-to-wakeup round trips.

#include <poll.h>

#include <fmt/core.h>

#include <string>

#include "checks.hpp"
#include "handles.hpp"
#include "stopwatch.hpp"

namespace xenvhost::xencheck {
namespace {

constexpr int kWaitMs = 2000;

// Notifies `from_port` on `from` and waits for `to_port` to fire on `to`.
Result<> deliver(xenevtchn_handle* from, evtchn_port_t from_port, xenevtchn_handle* to,
                 evtchn_port_t to_port) {
    if (xenevtchn_notify(from, from_port) != 0) return fail_errno("xenevtchn_notify(port {})", from_port);
    pollfd pfd{xenevtchn_fd(to), POLLIN, 0};
    int ready = poll(&pfd, 1, kWaitMs);
    if (ready < 0) return fail_errno("poll on the evtchn fd");
    if (ready == 0) return fail("no event on port {} within {} ms", to_port, kWaitMs);
    xenevtchn_port_or_error_t got = xenevtchn_pending(to);
    if (got < 0) return fail_errno("xenevtchn_pending");
    if (static_cast<evtchn_port_t>(got) != to_port) return fail("event on port {}, expected {}", got, to_port);
    if (xenevtchn_unmask(to, to_port) != 0) return fail_errno("xenevtchn_unmask(port {})", to_port);
    return {};
}

}  // namespace

Result<std::string> check_evtchn_loopback(unsigned rounds) {
    if (rounds == 0) return fail("evtchn check needs at least one round");
    EvtchnHandle a(xenevtchn_open(nullptr, 0));
    EvtchnHandle b(xenevtchn_open(nullptr, 0));
    if (!a || !b) return fail_errno("xenevtchn_open (/dev/xen/evtchn)");

    xenevtchn_port_or_error_t unbound = xenevtchn_bind_unbound_port(a.get(), 0);
    if (unbound < 0) return fail_errno("xenevtchn_bind_unbound_port(domid 0)");
    BoundPort port_a(a.get(), static_cast<evtchn_port_t>(unbound));
    xenevtchn_port_or_error_t local = xenevtchn_bind_interdomain(b.get(), 0, port_a.port());
    if (local < 0) return fail_errno("xenevtchn_bind_interdomain(domid 0, port {})", port_a.port());
    BoundPort port_b(b.get(), static_cast<evtchn_port_t>(local));

    if (auto r = deliver(a.get(), port_a.port(), b.get(), port_b.port()); !r)
        return std::unexpected(r.error());

    Stopwatch clock;
    for (unsigned i = 0; i < rounds; ++i) {
        if (auto r = deliver(b.get(), port_b.port(), a.get(), port_a.port()); !r)
            return fail("round {}: {}", i, r.error().message);
    }
    double per_event = clock.elapsed_us() / rounds;

    return fmt::format("ports {} <-> {}; both directions delivered; notify->poll->pending->unmask {:.1f} us ({} rounds)",
                       port_a.port(), port_b.port(), per_event, rounds);
}

}  // namespace xenvhost::xencheck
