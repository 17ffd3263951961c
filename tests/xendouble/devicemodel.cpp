// libxendevicemodel, as a device model calls it, over the ioreq state files:
// one ioreq server for the guest, its claims, the interrupt lines the
// device model drives and the MSIs it injects. The checks and errnos are the hypervisor's (dm.c,
// ioreq.c) and libxendevicemodel's for the cases a device model meets.

#include "xendouble/guest_state.hpp"
#include "xendouble/ioreq_claims.hpp"
#include "xendouble/ioreq_state.hpp"

#define __XEN_TOOLS__ 1  // dm_op.h wants it
extern "C" {
#include <xendevicemodel.h>
}

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

using namespace xenvhost::xendouble;

struct xendevicemodel_handle {
    std::shared_ptr<IoreqState> state;
    std::mutex mutex;
    int64_t restricted = -1;  // privcmd's restriction, once set
};

namespace {

int refuse(const IoreqState& s, int e, const char* what) {
    s.count(kDmFailures);
    note(false, "devicemodel: %s: %s", what, std::strerror(e));
    errno = e;
    return -1;
}

// The domain check every dm_op makes, then the server lookup most make.
int check(xendevicemodel_handle* h, domid_t domid, const char* what) {
    int64_t restricted;
    {
        std::lock_guard lock(h->mutex);
        restricted = h->restricted;
    }
    if (int e = domain_error(h->state->domid(), restricted, domid)) return refuse(*h->state, e, what);
    return 0;
}

bool server_is(const DmState& dm, ioservid_t id) { return dm.server_exists && dm.server_id == id; }

// A claim or release on the server `id`: ENOENT for an unknown server, as
// Xen's get_ioreq_server().
template <typename Op>
int on_server(xendevicemodel_handle* h, domid_t domid, ioservid_t id, const char* what, Op op) {
    if (check(h, domid, what) < 0) return -1;
    const IoreqState& s = *h->state;
    auto lock = s.lock();
    if (!server_is(s.dm(), id)) return refuse(s, ENOENT, what);
    if (int e = op(s.dm())) return refuse(s, e, what);
    note(false, "devicemodel: %s", what);
    return 0;
}

int set_level(const IoreqState& s, uint8_t& line, unsigned level, DmCounter changed) {
    auto lock = s.lock();
    if (line != level) s.count(changed);
    s.count(kLevelCalls);
    IoreqState::publish(line, static_cast<uint8_t>(level));
    return 0;
}

}  // namespace

extern "C" {

xendevicemodel_handle* xendevicemodel_open(struct xentoollog_logger*, unsigned) {
    auto state = IoreqState::open_from_env("xendevicemodel_open");
    if (!state) return nullptr;
    auto h = std::make_unique<xendevicemodel_handle>();
    h->state = std::move(state);
    return h.release();  // owned by the caller until xendevicemodel_close
}

int xendevicemodel_close(xendevicemodel_handle* dmod) {
    std::unique_ptr<xendevicemodel_handle> owned(dmod);
    return 0;
}

int xendevicemodel_restrict(xendevicemodel_handle* dmod, domid_t domid) {
    std::lock_guard lock(dmod->mutex);
    // privcmd: a handle is restricted once; another domain later is EINVAL.
    if (dmod->restricted >= 0 && dmod->restricted != domid) return refuse(*dmod->state, EINVAL, "restrict");
    // A domU's kernel restricts every handle to the domain's xenstore target (XSA-482's fix).
    if (const char* a = std::getenv(kDmAccessEnv); a && std::strcmp(a, "restricted") == 0)
        return refuse(*dmod->state, EINVAL, "restrict: the kernel restricted privcmd to another domain");
    dmod->restricted = domid;
    note(false, "devicemodel: restricted to domain %u", domid);
    return 0;
}

int xendevicemodel_create_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, int handle_bufioreq,
                                       ioservid_t* id) {
    if (check(dmod, domid, "create_ioreq_server") < 0) return -1;
    const IoreqState& s = *dmod->state;
    if (handle_bufioreq < 0 || handle_bufioreq > HVM_IOREQSRV_BUFIOREQ_ATOMIC)
        return refuse(s, EINVAL, "create_ioreq_server: bad bufioreq handling");
    // Buffered ioreqs are not modelled; saying so beats a page nobody fills.
    if (handle_bufioreq != HVM_IOREQSRV_BUFIOREQ_OFF)
        return refuse(s, EOPNOTSUPP, "create_ioreq_server: buffered ioreqs are not modelled");
    auto lock = s.lock();
    DmState& dm = s.dm();
    // Xen allows 8 servers a domain; the double has one, and a second
    // create fails as Xen's does when every slot is taken.
    if (dm.server_exists) return refuse(s, ENOSPC, "create_ioreq_server: the double has one server a domain");
    release_all(dm);
    for (unsigned v = 0; v < s.vcpus(); ++v) {
        // Xen allocates the vCPUs' unbound ports and resets their slots;
        // the ports appear in the slots only once the server is enabled.
        std::memset(s.slot(v), 0, kIoreqSize);
        IoreqState::publish(dm.bindings[v].state, static_cast<uint32_t>(kPortUnbound));
    }
    IoreqState::publish(dm.server_id, static_cast<uint32_t>(kServerId));
    IoreqState::publish(dm.server_enabled, 0u);
    IoreqState::publish(dm.server_exists, 1u);
    s.count(kServerCreates);
    *id = kServerId;
    note(false, "devicemodel: ioreq server %u created for domain %u", kServerId, domid);
    return 0;
}

// Only the resource-mapping form: the legacy gfn pages are not modelled.
int xendevicemodel_get_ioreq_server_info(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                         xen_pfn_t* ioreq_gfn, xen_pfn_t* bufioreq_gfn,
                                         evtchn_port_t* bufioreq_port) {
    if (check(dmod, domid, "get_ioreq_server_info") < 0) return -1;
    const IoreqState& s = *dmod->state;
    if (ioreq_gfn || bufioreq_gfn)
        return refuse(s, EOPNOTSUPP, "get_ioreq_server_info: legacy gfn pages are not modelled");
    auto lock = s.lock();
    if (!server_is(s.dm(), id)) return refuse(s, ENOENT, "get_ioreq_server_info");
    if (bufioreq_port) *bufioreq_port = 0;  // no buffered ioreqs
    return 0;
}

int xendevicemodel_map_io_range_to_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                                int is_mmio, uint64_t start, uint64_t end) {
    return on_server(dmod, domid, id, is_mmio ? "map mmio range" : "map port range",
                     [&](DmState& dm) { return claim_range(dm, is_mmio ? kRangeMmio : kRangePort, start, end); });
}

int xendevicemodel_unmap_io_range_from_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                                    int is_mmio, uint64_t start, uint64_t end) {
    return on_server(dmod, domid, id, is_mmio ? "unmap mmio range" : "unmap port range",
                     [&](DmState& dm) { return release_range(dm, is_mmio ? kRangeMmio : kRangePort, start, end); });
}

int xendevicemodel_map_pcidev_to_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                              uint16_t segment, uint8_t bus, uint8_t device, uint8_t function) {
    // libxendevicemodel's own check, before any hypercall.
    if (device > 0x1f || function > 0x7) return refuse(*dmod->state, EINVAL, "map pcidev: no such device/function");
    return on_server(dmod, domid, id, "map pcidev",
                     [&](DmState& dm) { return claim_pcidev(dm, pci_sbdf(segment, bus, device, function)); });
}

int xendevicemodel_unmap_pcidev_from_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                                  uint16_t segment, uint8_t bus, uint8_t device, uint8_t function) {
    if (device > 0x1f || function > 0x7) return refuse(*dmod->state, EINVAL, "unmap pcidev: no such device/function");
    return on_server(dmod, domid, id, "unmap pcidev",
                     [&](DmState& dm) { return release_pcidev(dm, pci_sbdf(segment, bus, device, function)); });
}

int xendevicemodel_set_ioreq_server_state(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id, int enabled) {
    const IoreqState& s = *dmod->state;
    return on_server(dmod, domid, id, enabled ? "enable server" : "disable server", [&](DmState& dm) {
        // As Xen's ioreq_server_enable(): each vCPU's port is written into
        // its slot when the server is enabled, not when it is created.
        if (enabled)
            for (unsigned v = 0; v < s.vcpus(); ++v)
                std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(s.slot(v) + kIoreqPort))
                    .store(kGuestPortBase + v, std::memory_order_release);
        IoreqState::publish(dm.server_enabled, enabled ? 1u : 0u);
        return 0;
    });
}

int xendevicemodel_destroy_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id) {
    const IoreqState& s = *dmod->state;
    return on_server(dmod, domid, id, "destroy server", [&](DmState& dm) {
        // Xen closes the vCPUs' ports: a device model's bound ends stay
        // allocated until unbound, but nothing reaches them any more.
        release_all(dm);
        for (unsigned v = 0; v < s.vcpus(); ++v)
            IoreqState::publish(dm.bindings[v].state, static_cast<uint32_t>(kPortClosed));
        IoreqState::publish(dm.server_enabled, 0u);
        IoreqState::publish(dm.server_exists, 0u);
        s.count(kServerDestroys);
        return 0;
    });
}

int xendevicemodel_set_pci_intx_level(xendevicemodel_handle* dmod, domid_t domid, uint16_t segment, uint8_t bus,
                                      uint8_t device, uint8_t intx, unsigned int level) {
    if (check(dmod, domid, "set_pci_intx_level") < 0) return -1;
    const IoreqState& s = *dmod->state;
    // dm.c: only segment 0 bus 0, INTA..INTD, level 0 or 1.
    if (segment != 0 || bus != 0 || device > 0x1f || intx > 3 || level > 1)
        return refuse(s, EINVAL, "set_pci_intx_level: out of range");
    note(false, "devicemodel: INTx %u:%u level %u", device, intx, level);
    return set_level(s, s.dm().intx[device][intx], level, kIntxChanges);
}

// dm.c checks that the guest is HVM (EINVAL) before the caller's privilege (EPERM).
int xendevicemodel_nr_vcpus(xendevicemodel_handle* dmod, domid_t domid, unsigned int* vcpus) {
    if (check(dmod, domid, "nr_vcpus") < 0) return -1;
    const IoreqState& s = *dmod->state;
    const char* access = std::getenv(kDmAccessEnv);
    if (access && std::strcmp(access, "refused") == 0) return refuse(s, EPERM, "nr_vcpus: no privilege over the guest");
    if (access && std::strcmp(access, "pv") == 0) return refuse(s, EINVAL, "nr_vcpus: not an HVM guest");
    *vcpus = s.vcpus();
    note(false, "devicemodel: nr_vcpus %u", *vcpus);
    return 0;
}

int xendevicemodel_set_irq_level(xendevicemodel_handle* dmod, domid_t domid, unsigned int irq, unsigned int level) {
    if (check(dmod, domid, "set_irq_level") < 0) return -1;
    const IoreqState& s = *dmod->state;
    if (irq > 15 || level > 1) return refuse(s, EINVAL, "set_irq_level: out of range");
    note(false, "devicemodel: IRQ %u level %u", irq, level);
    return set_level(s, s.dm().isa_irq[irq], level, kIrqChanges);
}

// x86's XEN_DMOP_set_isa_irq_level: the same lines as above (the double's
// set_irq_level already models an x86 guest's ISA IRQs).
int xendevicemodel_set_isa_irq_level(xendevicemodel_handle* dmod, domid_t domid, uint8_t irq, unsigned int level) {
    return xendevicemodel_set_irq_level(dmod, domid, irq, level);
}

// dm.c's XEN_DMOP_inject_msi checks only its padding and hands the message
// to hvm_inject_msi, which decodes it for the guest (no ioreq server
// needed): recorded as given, for the guest side to match against what it
// programmed.
int xendevicemodel_inject_msi(xendevicemodel_handle* dmod, domid_t domid, uint64_t msi_addr, uint32_t msi_data) {
    if (check(dmod, domid, "inject_msi") < 0) return -1;
    const IoreqState& s = *dmod->state;
    note(false, "devicemodel: MSI %#llx data %#x", static_cast<unsigned long long>(msi_addr), msi_data);
    auto lock = s.lock();
    DmState& dm = s.dm();
    const uint64_t n = std::atomic_ref<uint64_t>(dm.counters[kMsis]).load(std::memory_order_relaxed);
    DmMsi& slot = dm.msi_log[n % kMsiLog];
    IoreqState::publish(slot.address, msi_addr);
    IoreqState::publish(slot.data, msi_data);
    // Release: a reader that sees the count sees the entry.
    std::atomic_ref<uint64_t>(dm.counters[kMsis]).fetch_add(1, std::memory_order_release);
    return 0;
}

}  // extern "C"
