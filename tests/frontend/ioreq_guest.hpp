#pragma once
// The guest's vCPUs for a device model running under the Xen double
// (tests/xendouble, LD_PRELOAD=libxendouble.so): creates the ioreq state
// files (tests/xendouble/ioreq_layout.hpp) and does what Xen does when a
// vCPU touches emulated I/O. An access the device model's enabled server
// claims is placed in the vCPU's ioreq slot (STATE_IOREQ_READY), the vCPU's
// event channel is signalled, and the vCPU waits, bounded, for the device
// model's notify and STATE_IORESP_READY. An access no enabled server claims
// goes to Xen's null handler: reads are all ones, writes are dropped.
//
// Calls on different vCPUs may run concurrently from different threads;
// calls on one vCPU are serialised, as a vCPU does one access at a time.

#include "base/error.hpp"
#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "xendouble/ioreq_layout.hpp"
#include "xendouble/state_layout.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace xenvhost::frontend {

// What the double recorded, read consistently (under the state's lock).
struct IoreqServerState {
    struct Range {
        uint64_t start, end;  // inclusive
        bool operator==(const Range&) const = default;
    };
    bool exists = false;
    bool enabled = false;
    uint32_t id = 0;
    uint32_t page_maps = 0;  // live mappings of the ioreq page
    std::vector<Range> mmio, ports;
    std::vector<uint32_t> pcidevs;  // SBDFs
    std::vector<xendouble::BindingState> bindings;  // by vCPU
    std::array<uint64_t, xendouble::kDmCounterCount> counters{};

    uint64_t counter(xendouble::DmCounter c) const { return counters[c]; }
    bool all_bound() const;
    std::string describe() const;
};

class IoreqGuest {
public:
    // Creates `ioreq` and `dm-state` for `vcpus` vCPUs in `dir` (the
    // double's $XENDOUBLE_DIR) and a socket for each vCPU's port. A device
    // model that also maps guest memory needs XenDoubleFiles in `dir` too.
    static Result<std::unique_ptr<IoreqGuest>> create(const std::string& dir, uint32_t domid, unsigned vcpus);
    ~IoreqGuest();
    IoreqGuest(const IoreqGuest&) = delete;
    IoreqGuest& operator=(const IoreqGuest&) = delete;

    // $XENDOUBLE_DIR, $XENDOUBLE_DOMID and $XENDOUBLE_VCPUS for the device
    // model, next to LD_PRELOAD.
    std::vector<std::pair<std::string, std::string>> environment() const;
    unsigned vcpus() const { return vcpus_; }
    // How long a vCPU waits for an answer (default 5000 ms).
    void set_timeout_ms(int ms) { timeout_ms_ = ms; }

    // size 1, 2, 4 or 8.
    Result<uint64_t> mmio_read(uint64_t addr, unsigned size, unsigned vcpu = 0);
    Result<void> mmio_write(uint64_t addr, unsigned size, uint64_t value, unsigned vcpu = 0);
    // sbdf as xendouble::pci_sbdf(); reg up to 4095; size 1, 2 or 4.
    Result<uint64_t> pci_config_read(uint32_t sbdf, uint32_t reg, unsigned size, unsigned vcpu = 0);
    Result<void> pci_config_write(uint32_t sbdf, uint32_t reg, unsigned size, uint64_t value, unsigned vcpu = 0);
    // IOREQ_TYPE_INVALIDATE (a mapcache flush), sent to the enabled server
    // whatever it claims, as Xen does after a guest's memory map changed.
    Result<void> invalidate(unsigned vcpu = 0);

    // Until the server is enabled and every vCPU's port is bound: when the
    // toolstack would unpause the guest.
    Result<void> wait_ready(int timeout_ms = 10000) const;
    // Until `pred` holds for the recorded state (levels, claims, counters).
    Result<void> wait_for(const std::function<bool(const IoreqServerState&)>& pred, const std::string& what,
                          int timeout_ms = 5000) const;

    IoreqServerState server() const;
    uint8_t intx_level(uint8_t device, uint8_t pin) const;  // pin 0..3 = INTA..INTD
    uint8_t irq_level(unsigned irq) const;
    // MSIs the device model injected: how many, and those from number
    // `from` on that the double still holds (its last xendouble::kMsiLog).
    struct Msi {
        uint64_t address;
        uint32_t data;
        bool operator==(const Msi&) const = default;
    };
    struct MsiLog {
        uint64_t total = 0;
        uint64_t first = 0;  // entries[i] is MSI number first + i
        std::vector<Msi> entries;
    };
    uint64_t msi_count() const;
    MsiLog msis(uint64_t from = 0) const;
    // Accesses that went to the null handler (nothing enabled claimed them).
    uint64_t unclaimed_accesses() const { return unclaimed_.load(); }

private:
    struct Request {
        uint8_t type;
        bool read;
        uint64_t addr, data;
        unsigned size, count;
        std::string what;  // for messages
    };
    IoreqGuest() = default;
    bool claimed(uint8_t type, uint64_t addr, unsigned size) const;
    Result<uint64_t> access(unsigned vcpu, const Request& r);
    Result<uint64_t> send_and_wait(unsigned vcpu, const Request& r);
    Result<void> signal(unsigned vcpu, const std::string& what);
    xendouble::DmState& dm() const { return *reinterpret_cast<xendouble::DmState*>(dm_.data()); }
    uint8_t* slot(unsigned vcpu) const { return page_.data() + vcpu * xendouble::kIoreqSize; }

    std::string dir_;
    uint32_t domid_ = 0;
    unsigned vcpus_ = 0;
    int timeout_ms_ = 5000;
    UniqueFd dm_fd_;  // for the shared flock
    Mapping dm_, page_;
    std::vector<UniqueFd> ports_;  // the vCPUs' event channel ends
    std::unique_ptr<std::mutex[]> vcpu_mutex_;
    std::atomic<uint64_t> unclaimed_{0};
};

}  // namespace xenvhost::frontend
