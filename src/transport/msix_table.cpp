#include "transport/msix_table.hpp"

#include "transport/access_width.hpp"
#include "transport/pci_layout.hpp"

#include <algorithm>

namespace xenvhost::transport::pci {

namespace {
// Dwords of a table entry.
enum : uint64_t { kAddressLo = 0, kAddressHi = 4, kData = 8, kVectorControl = 12 };
constexpr uint32_t kVectorMasked = 0x1;
}  // namespace

MsixTable::MsixTable(Platform& platform, GuestLog& log, uint16_t vectors)
    : platform_(platform),
      log_(log),
      entries_(std::clamp<uint16_t>(vectors, 1, kMaxMsixVectors)),
      pending_((entries_.size() + 63) / 64, 0) {}

uint16_t MsixTable::control() const {
    return static_cast<uint16_t>((size() - 1) | (function_mask_ ? kMsixFunctionMask : 0) |
                                 (enabled_ ? kMsixEnable : 0));
}

void MsixTable::write_control(uint16_t value) {
    enabled_ = value & kMsixEnable;
    function_mask_ = value & kMsixFunctionMask;
    send_unmasked_pending();
}

bool MsixTable::access_ok(const char* what, uint64_t offset, unsigned width, uint64_t limit, bool write) {
    if ((width == 4 || width == 8) && offset % width == 0 && offset < limit && width <= limit - offset) return true;
    log_.warn("MSI-X {} {} of {} bytes at {:#x} refused", what, write ? "write" : "read", width, offset);
    return false;
}

uint64_t MsixTable::table_bytes() const { return uint64_t{kMsixEntrySize} * entries_.size(); }

uint64_t MsixTable::table_read(uint64_t offset, unsigned width) {
    if (!access_ok("table", offset, width, table_bytes(), false)) return all_ones(width);
    uint64_t value = read_dword(offset);
    if (width == 8) value |= uint64_t{read_dword(offset + 4)} << 32;
    return value;
}

// A qword write is its two dwords, low first: address then address high,
// or data then vector control (so an unmask sees the new data).
void MsixTable::table_write(uint64_t offset, unsigned width, uint64_t data) {
    if (!access_ok("table", offset, width, table_bytes(), true)) return;
    write_dword(offset, static_cast<uint32_t>(data));
    if (width == 8) write_dword(offset + 4, static_cast<uint32_t>(data >> 32));
}

uint32_t MsixTable::read_dword(uint64_t offset) const {
    const Entry& e = entries_[offset / kMsixEntrySize];
    switch (offset % kMsixEntrySize) {
        case kAddressLo: return e.address_lo;
        case kAddressHi: return e.address_hi;
        case kData: return e.data;
        default: return e.masked ? kVectorMasked : 0;  // reserved bits read 0
    }
}

// Any write may unmask a pending vector: its mask bit, or a new message
// the platform masks itself.
void MsixTable::write_dword(uint64_t offset, uint32_t value) {
    const auto vector = static_cast<uint16_t>(offset / kMsixEntrySize);
    Entry& e = entries_[vector];
    switch (offset % kMsixEntrySize) {
        case kAddressLo: e.address_lo = value; break;
        case kAddressHi: e.address_hi = value; break;
        case kData: e.data = value; break;
        default: e.masked = value & kVectorMasked; break;
    }
    if (!masked(vector) && pending(vector)) {
        set_pending(vector, false);
        send(vector);
    }
}

uint64_t MsixTable::pba_read(uint64_t offset, unsigned width) {
    if (!access_ok("PBA", offset, width, 8 * pending_.size(), false)) return all_ones(width);
    const uint64_t qword = pending_[offset / 8];
    return width == 8 ? qword : static_cast<uint32_t>(qword >> (8 * (offset % 8)));
}

void MsixTable::pba_write(uint64_t offset, unsigned width) {
    log_.warn("MSI-X PBA write of {} bytes at {:#x} refused: read-only", width, offset);
}

bool MsixTable::masked(uint16_t vector) const {
    const Entry& e = entries_[vector];
    if (!enabled_) return true;
    if (platform_.msi_masked_elsewhere(address(e), e.data)) return false;
    return function_mask_ || e.masked;
}

uint64_t MsixTable::address(const Entry& e) { return uint64_t{e.address_hi} << 32 | e.address_lo; }

bool MsixTable::pending(uint16_t vector) const {
    return vector < size() && (pending_[vector / 64] >> (vector % 64) & 1);
}

void MsixTable::set_pending(uint16_t vector, bool on) {
    const uint64_t bit = uint64_t{1} << (vector % 64);
    pending_[vector / 64] = on ? pending_[vector / 64] | bit : pending_[vector / 64] & ~bit;
}

void MsixTable::signal(uint16_t vector) {
    if (vector >= size() || !enabled_) return;
    if (masked(vector))
        set_pending(vector, true);
    else
        send(vector);
}

void MsixTable::send(uint16_t vector) {
    const Entry& e = entries_[vector];
    platform_.send_msi(address(e), e.data);
}

void MsixTable::clear_pending() { std::fill(pending_.begin(), pending_.end(), 0); }

void MsixTable::send_unmasked_pending() {
    for (uint16_t v = 0; v < size(); ++v) {
        if (masked(v) || !pending(v)) continue;
        set_pending(v, false);
        send(v);
    }
}

}  // namespace xenvhost::transport::pci
