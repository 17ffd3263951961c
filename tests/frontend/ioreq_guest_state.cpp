// IoreqGuest's reading of what the double recorded: the server, its claims,
// the interrupt levels, the MSIs and the counters, and the waits built on them.

#include "frontend/clock.hpp"
#include "frontend/ioreq_guest.hpp"

#include <sys/file.h>
#include <unistd.h>

#include <algorithm>

extern "C" {
#include <xen/hvm/ioreq.h>
}

namespace xenvhost::frontend {

namespace xd = xendouble;

namespace {

template <typename T>
T load(const T& v) {
    return std::atomic_ref<const T>(v).load(std::memory_order_acquire);
}

// The shared side of the double's exclusive flock: a table read under it is
// never half updated.
class SharedLock {
public:
    explicit SharedLock(int fd) : fd_(fd) {
        while (::flock(fd_, LOCK_SH) != 0 && errno == EINTR) {
        }
    }
    ~SharedLock() { ::flock(fd_, LOCK_UN); }
    SharedLock(const SharedLock&) = delete;
    SharedLock& operator=(const SharedLock&) = delete;

private:
    int fd_;
};

}  // namespace

bool IoreqServerState::all_bound() const {
    for (auto b : bindings)
        if (b != xd::kPortBound) return false;
    return !bindings.empty();
}

std::string IoreqServerState::describe() const {
    std::string s = fmt::format("server {}{} id {} page maps {}; mmio", exists ? "exists" : "absent",
                                enabled ? " enabled" : "", id, page_maps);
    for (auto& r : mmio) s += fmt::format(" {:#x}-{:#x}", r.start, r.end);
    s += "; ports";
    for (auto& r : ports) s += fmt::format(" {:#x}-{:#x}", r.start, r.end);
    s += "; pci";
    for (auto p : pcidevs) s += fmt::format(" {:#x}", p);
    s += "; bindings";
    for (auto b : bindings) s += fmt::format(" {}", b == xd::kPortBound ? "bound" : b == xd::kPortUnbound ? "unbound" : "closed");
    s += ";";
    for (unsigned i = 0; i < xd::kDmCounterCount; ++i) s += fmt::format(" {}={}", xd::dm_counter_name(i), counters[i]);
    return s;
}

IoreqServerState IoreqGuest::server() const {
    IoreqServerState st;
    SharedLock lock(dm_fd_.get());
    const xd::DmState& d = dm();
    st.exists = load(d.server_exists);
    st.enabled = load(d.server_enabled);
    st.id = load(d.server_id);
    st.page_maps = load(d.page_maps);
    for (const auto& r : d.ranges) {
        const uint32_t kind = load(r.kind);
        if (kind == xd::kRangeMmio) st.mmio.push_back({load(r.start), load(r.end)});
        if (kind == xd::kRangePort) st.ports.push_back({load(r.start), load(r.end)});
    }
    for (auto p : d.pcidevs)
        if (uint32_t v = load(p)) st.pcidevs.push_back(v - 1);
    for (unsigned v = 0; v < vcpus_; ++v) st.bindings.push_back(static_cast<xd::BindingState>(load(d.bindings[v].state)));
    for (unsigned i = 0; i < xd::kDmCounterCount; ++i) st.counters[i] = load(d.counters[i]);
    return st;
}

bool IoreqGuest::claimed(uint8_t type, uint64_t addr, unsigned size) const {
    const IoreqServerState st = server();
    if (!st.exists || !st.enabled) return false;
    if (type == IOREQ_TYPE_INVALIDATE) return true;
    if (type == IOREQ_TYPE_PCI_CONFIG) {
        for (auto p : st.pcidevs)
            if (p == static_cast<uint32_t>(addr >> 32)) return true;
        return false;
    }
    for (const auto& r : st.mmio)
        if (addr >= r.start && addr + size - 1 <= r.end) return true;
    return false;
}

uint8_t IoreqGuest::intx_level(uint8_t device, uint8_t pin) const {
    if (device > 31 || pin > 3) return 0;
    return load(dm().intx[device][pin]);
}

uint8_t IoreqGuest::irq_level(unsigned irq) const { return irq > 15 ? 0 : load(dm().isa_irq[irq]); }

uint64_t IoreqGuest::msi_count() const { return load(dm().counters[xd::kMsis]); }

IoreqGuest::MsiLog IoreqGuest::msis(uint64_t from) const {
    SharedLock lock(dm_fd_.get());
    const xd::DmState& d = dm();
    MsiLog log;
    log.total = load(d.counters[xd::kMsis]);
    log.first = std::max(from, log.total > xd::kMsiLog ? log.total - xd::kMsiLog : 0);
    for (uint64_t i = log.first; i < log.total; ++i) {
        const xd::DmMsi& m = d.msi_log[i % xd::kMsiLog];
        log.entries.push_back({load(m.address), load(m.data)});
    }
    return log;
}

Result<void> IoreqGuest::wait_for(const std::function<bool(const IoreqServerState&)>& pred, const std::string& what,
                                  int timeout_ms) const {
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        const IoreqServerState st = server();
        if (pred(st)) return {};
        if (now_ms() >= deadline) return fail("{} not reached within {} ms: {}", what, timeout_ms, st.describe());
        ::usleep(2000);
    }
}

Result<void> IoreqGuest::wait_ready(int timeout_ms) const {
    return wait_for([](const IoreqServerState& st) { return st.exists && st.enabled && st.all_bound(); },
                    "the device model's ioreq server enabled with every vCPU's port bound", timeout_ms);
}

}  // namespace xenvhost::frontend
