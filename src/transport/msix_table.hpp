#pragma once
// A PCI function's MSI-X state (PCI Local Bus 3.0, 6.8.2): Message Control's
// Enable and Function Mask, the table (a message address, data and vector
// control with its mask bit per vector) and the Pending Bit Array. An
// interrupt for a vector is sent through the platform when nothing masks it;
// a masked one sets its pending bit instead, and is sent (once) when the
// mask goes and the bit is still set. A message the platform masks itself
// (Xen's pirq MSIs) ignores both masks. The table and PBA take only aligned
// 4- and 8-byte accesses (the spec leaves others undefined): others are
// refused, as are PBA writes (read-only) and entries beyond the table.

#include "transport/guest_log.hpp"
#include "transport/platform.hpp"

#include <cstdint>
#include <vector>

namespace xenvhost::transport::pci {

class MsixTable {
public:
    // `vectors`: 1..kMaxMsixVectors.
    MsixTable(Platform& platform, GuestLog& log, uint16_t vectors);

    uint16_t size() const { return static_cast<uint16_t>(entries_.size()); }
    bool enabled() const { return enabled_; }
    // Message Control: table size - 1, Function Mask, Enable.
    uint16_t control() const;
    // Only Enable and Function Mask are writable; what the change unmasks
    // and is pending is sent.
    void write_control(uint16_t value);

    // Offsets inside the table's and the PBA's regions of the BAR.
    uint64_t table_read(uint64_t offset, unsigned width);
    void table_write(uint64_t offset, unsigned width, uint64_t data);
    uint64_t pba_read(uint64_t offset, unsigned width);
    void pba_write(uint64_t offset, unsigned width);

    // An interrupt for `vector` while MSI-X is enabled: sent, or left
    // pending while masked. A vector beyond the table (NO_VECTOR among
    // them) raises nothing.
    void signal(uint16_t vector);
    bool pending(uint16_t vector) const;
    // The device was reset: what it had pending is gone with its state.
    void clear_pending();

private:
    struct Entry {
        uint32_t address_lo = 0, address_hi = 0, data = 0;
        bool masked = true;  // the reset state of the mask bit
    };
    bool access_ok(const char* what, uint64_t offset, unsigned width, uint64_t limit, bool write);
    uint64_t table_bytes() const;
    uint32_t read_dword(uint64_t offset) const;
    void write_dword(uint64_t offset, uint32_t value);
    static uint64_t address(const Entry& e);
    bool masked(uint16_t vector) const;
    void set_pending(uint16_t vector, bool on);
    void send(uint16_t vector);
    void send_unmasked_pending();

    Platform& platform_;
    GuestLog& log_;
    std::vector<Entry> entries_;
    std::vector<uint64_t> pending_;  // the PBA: bit v % 64 of qword v / 64
    bool enabled_ = false;
    bool function_mask_ = false;
};

}  // namespace xenvhost::transport::pci
