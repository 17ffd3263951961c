#pragma once
// The files through which the double's device-model side (libxendevicemodel,
// libxenevtchn and the ioreq server's page, preloaded into a device model)
// and the test playing the guest's vCPUs (tests/frontend/ioreq_guest.*)
// share one domain's ioreq state in $XENDOUBLE_DIR. They stand in for what
// Xen keeps in the hypervisor: the server, its claims, the interrupt lines,
// the MSIs injected and the event channels between the vCPUs and the device
// model.
//
// Both sides mmap `dm-state` MAP_SHARED. Writers (the double) change it under
// an exclusive flock on the file; readers that need a consistent view (the
// claimed ranges) take a shared flock; single words are read atomically.

#include <cstddef>
#include <cstdint>
#include <string>

namespace xenvhost::xendouble {

// The vCPU count, given to the double's setup and checked against dm-state
// by the device model's side (a test that points a dm at the wrong
// directory says so instead of hanging).
inline constexpr const char* kVcpusEnv = "XENDOUBLE_VCPUS";

// What the hypervisor answers a DMOP of a domain that is not dom0 (a driver
// domain's xenvhostd probing the guest with nr_vcpus): "refused" is EPERM
// (an HVM guest under the default XSM policy), "pv" is EINVAL (not HVM),
// "restricted" makes xendevicemodel_restrict fail with EINVAL as a domU's
// privcmd does since the fix for XSA-482 (restricted to the domain's
// xenstore target); unset, the caller may (dom0, or a policy that allows it).
inline constexpr const char* kDmAccessEnv = "XENDOUBLE_DM_ACCESS";

// One page: a shared_iopage_t, one ioreq_t (32 bytes) per vCPU. Mapped by
// xenforeignmemory_map_resource(XENMEM_resource_ioreq_server, frame 1).
inline constexpr const char* kIoreqFile = "ioreq";
// A DmState.
inline constexpr const char* kDmStateFile = "dm-state";
// Unix datagram sockets carrying a u32 port per event: the guest's port of
// vCPU n is "evtchn-guest-<port>", a device model's evtchn handle is
// "evtchn-dm-<handle id>".
inline std::string guest_port_socket(const std::string& dir, uint32_t port) {
    return dir + "/evtchn-guest-" + std::to_string(port);
}
inline std::string dm_handle_socket(const std::string& dir, uint32_t handle) {
    return dir + "/evtchn-dm-" + std::to_string(handle);
}

inline constexpr uint32_t kDmStateMagic = 0x51524f49;  // "IORQ"
inline constexpr unsigned kMaxVcpus = 128;              // 4096 / sizeof(ioreq_t)
inline constexpr unsigned kMaxRanges = 64;
inline constexpr unsigned kMaxPcidevs = 32;
// The guest's port of vCPU n is kGuestPortBase + n: Xen allocates these
// unbound ports (remote: the device model's domain) when the server is
// created and writes them into the slots' vp_eport when it is enabled.
inline constexpr uint32_t kGuestPortBase = 16;
// The single ioreq server's id (Xen gives the lowest free id).
inline constexpr uint16_t kServerId = 0;

enum RangeKind : uint32_t { kRangeFree = 0, kRangePort = 1, kRangeMmio = 2 };

struct DmRange {
    uint64_t start;
    uint64_t end;  // inclusive, as Xen's rangesets
    uint32_t kind;  // RangeKind
    uint32_t pad;
};

enum BindingState : uint32_t {
    kPortUnbound = 0,  // the guest's port exists, no device model bound it
    kPortBound = 1,    // bound: local_port in evtchn handle `handle`
    kPortClosed = 2,   // no server: the guest's port is gone
};

struct DmBinding {
    uint32_t state;  // BindingState
    uint32_t local_port;
    uint32_t handle;  // the binding evtchn handle's id (its socket's name)
    uint32_t pad;
};

enum DmCounter : unsigned {
    kServerCreates,
    kServerDestroys,
    kGuestRequests,    // ioreqs the guest side placed and signalled
    kIoreqsAnswered,   // device-model notifies that found the slot IORESP_READY
    kDmNotifies,       // xenevtchn_notify calls that reached a guest port
    kGuestSignals,     // guest signals delivered to a device model's handle
    kIntxChanges,      // set_pci_intx_level calls that changed a level
    kIrqChanges,       // set_irq_level calls that changed a level
    kLevelCalls,       // all accepted level calls, changed or not
    kDmFailures,       // calls the double refused
    kMsis,             // inject_msi calls accepted
    kDmCounterCount,
};

inline constexpr const char* dm_counter_name(unsigned c) {
    constexpr const char* names[kDmCounterCount] = {
        "server-creates", "server-destroys", "guest-requests", "ioreqs-answered", "dm-notifies",
        "guest-signals",  "intx-changes",    "irq-changes",    "level-calls",     "dm-failures",
        "msis"};
    return c < kDmCounterCount ? names[c] : "?";
}

// The last kMsiLog MSIs injected: MSI n (counting from 0, kMsis counts
// them) is at msi_log[n % kMsiLog], written before the counter goes up.
inline constexpr unsigned kMsiLog = 256;

struct DmMsi {
    uint64_t address;
    uint32_t data;
    uint32_t pad;
};

struct DmState {
    uint32_t magic;    // kDmStateMagic once the guest side created the file
    uint32_t vcpus;    // slots in `ioreq`, ports, bindings
    uint32_t server_exists;
    uint32_t server_enabled;
    uint32_t server_id;
    uint32_t page_maps;      // live mappings of the ioreq page
    uint32_t next_handle;    // evtchn handle ids, across processes
    uint32_t next_local_port;
    DmRange ranges[kMaxRanges];
    uint32_t pcidevs[kMaxPcidevs];  // SBDF + 1; 0 = free
    uint8_t intx[32][4];            // level of (device, INTA..INTD) on segment 0 bus 0
    uint8_t isa_irq[16];            // level of ISA IRQ n
    DmBinding bindings[kMaxVcpus];  // by vCPU: the guest port kGuestPortBase + vCPU
    uint64_t counters[kDmCounterCount];
    DmMsi msi_log[kMsiLog];
};

inline constexpr uint32_t pci_sbdf(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn) {
    return (uint32_t{seg} << 16) | (uint32_t{bus} << 8) | (uint32_t{dev} << 3) | fn;
}

// ioreq_t's byte offsets (checked against <xen/hvm/ioreq.h> where included):
// the guest side writes the fields by offset so it does not depend on the
// bitfield order; byte 30 holds state:4, data_is_ptr:1, dir:1, df:1.
inline constexpr size_t kIoreqSize = 32;
inline constexpr size_t kIoreqAddr = 0, kIoreqData = 8, kIoreqCount = 16, kIoreqSizeField = 20, kIoreqPort = 24,
                        kIoreqFlags = 30, kIoreqType = 31;
inline constexpr uint8_t kFlagStateMask = 0x0f, kFlagDataIsPtr = 0x10, kFlagDirRead = 0x20;

}  // namespace xenvhost::xendouble
