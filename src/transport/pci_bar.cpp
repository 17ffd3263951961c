#include "transport/pci_bar.hpp"

#include "transport/pci_layout.hpp"

namespace xenvhost::transport::pci {

namespace {
uint32_t merge(uint32_t old, uint32_t value, uint8_t byte_mask) {
    uint32_t mask = 0;
    for (unsigned i = 0; i < 4; ++i)
        if (byte_mask & (1u << i)) mask |= uint32_t{0xff} << (8 * i);
    return (old & ~mask) | (value & mask);
}
}  // namespace

PciBar::PciBar(Platform& platform, GuestLog& log, uint64_t size) : platform_(platform), log_(log), size_(size) {}

PciBar::~PciBar() { release(); }

uint32_t PciBar::read_low() const { return static_cast<uint32_t>(address_) | kBarMemory64; }

uint32_t PciBar::read_high() const { return static_cast<uint32_t>(address_ >> 32); }

// The bits below the size are hard-wired to 0: that is how sizing works.
void PciBar::write_low(uint32_t value, uint8_t byte_mask) {
    const uint32_t low = merge(static_cast<uint32_t>(address_), value, byte_mask);
    address_ = ((address_ >> 32) << 32 | low) & ~(size_ - 1);
}

void PciBar::write_high(uint32_t value, uint8_t byte_mask) {
    const uint32_t high = merge(static_cast<uint32_t>(address_ >> 32), value, byte_mask);
    address_ = (uint64_t{high} << 32 | static_cast<uint32_t>(address_)) & ~(size_ - 1);
}

// Like QEMU: address 0 and a range reaching the top of the address space
// (all ones written for sizing) are not placements.
std::optional<PciBar::Range> PciBar::wanted(bool memory_decoding) const {
    const uint64_t last = address_ + (size_ - 1);
    if (!memory_decoding || address_ == 0 || last < address_ || last == ~uint64_t{0}) return std::nullopt;
    return Range{address_, last};
}

void PciBar::update(bool memory_decoding) {
    const auto want = wanted(memory_decoding);
    if (want == claimed_) return;
    release();
    if (want && place(*want)) claimed_ = want;
}

bool PciBar::place(const Range& range) {
    Result<> claimed = platform_.overlaps_ram(range.first, range.last)
                           ? fail_as(ErrorKind::kGuestFault, "it overlaps RAM")
                           : platform_.claim_mmio(range.first, range.last);
    if (claimed) return true;
    if (last_refused_ != range)
        log_.warn("BAR at {:#x}-{:#x} not decoded: {}", range.first, range.last, claimed.error().message);
    last_refused_ = range;
    return false;
}

void PciBar::release() {
    if (!claimed_) return;
    if (auto r = platform_.release_mmio(claimed_->first, claimed_->last); !r)
        log::warn("{}: release of BAR {:#x}-{:#x} failed: {}", log_.who(), claimed_->first, claimed_->last,
                  r.error().message);
    claimed_.reset();
}

std::optional<uint64_t> PciBar::offset_of(uint64_t addr, unsigned size) const {
    if (!claimed_ || addr < claimed_->first || addr > claimed_->last || size == 0) return std::nullopt;
    const uint64_t offset = addr - claimed_->first;
    if (size > size_ - offset) return std::nullopt;
    return offset;
}

std::optional<uint64_t> PciBar::decoded_base() const {
    if (!claimed_) return std::nullopt;
    return claimed_->first;
}

}  // namespace xenvhost::transport::pci
