#include "worker_counters.hpp"

#include "frontend/xen_worker.hpp"

#include <fmt/core.h>
#include <time.h>

#include <cerrno>

namespace xenvhost::grantfe {

Counters Counters::operator-(const Counters& o) const {
    Counters d = *this;
    d.requests -= o.requests;
    d.map_calls -= o.map_calls;
    d.unmap_calls -= o.unmap_calls;
    d.pages_mapped -= o.pages_mapped;
    d.map_failures -= o.map_failures;
    d.copy_calls -= o.copy_calls;
    d.copy_segments -= o.copy_segments;
    d.copy_failures -= o.copy_failures;
    return d;
}

std::string Counters::describe() const {
    return fmt::format("requests {}, map calls {}, unmap calls {}, pages mapped {}, map failures {}, grant access {}, "
                       "copy calls {}, copy segments {}, copy failures {}",
                       requests, map_calls, unmap_calls, pages_mapped, map_failures, grant_access, copy_calls,
                       copy_segments, copy_failures);
}

Result<Counters> WorkerCounters::read() const {
    if (!path_) return fail("no --control socket given: the worker's counters cannot be read");
    auto devices = frontend::control_status(*path_);
    if (!devices) return std::unexpected(devices.error());
    if (devices->empty()) return fail("the worker reports no device on {}", *path_);
    const auto& s = devices->front();
    return Counters{s.requests,  s.map_calls,    s.unmap_calls,  s.pages_mapped,  s.map_failures,
                    s.connected, s.mapping,      s.grant_access, s.copy_calls,    s.copy_segments,
                    s.copy_failures};
}

void pause_ms(int ms) {
    timespec ts{ms / 1000, (ms % 1000) * 1000000L};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

}  // namespace xenvhost::grantfe
