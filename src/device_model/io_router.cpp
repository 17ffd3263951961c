#include "device_model/io_router.hpp"

#include "base/log.hpp"

namespace xenvhost::device_model {

uint32_t encode_sbdf(const xen::PciSbdf& s) {
    return (uint32_t{s.segment} << 16) | (uint32_t{s.bus} << 8) | (uint32_t(s.device & 0x1f) << 3) | (s.function & 7u);
}

Result<> IoRouter::add_mmio(uint64_t first, uint64_t last, IoTarget& owner) {
    auto next = mmio_.lower_bound(first);
    if (next != mmio_.end() && next->first <= last)
        return fail_as(ErrorKind::kPolicy, "MMIO {:#x}-{:#x} overlaps {} at {:#x}", first, last,
                       next->second.owner->describe(), next->first);
    if (next != mmio_.begin()) {
        auto prev = std::prev(next);
        if (prev->second.last >= first)
            return fail_as(ErrorKind::kPolicy, "MMIO {:#x}-{:#x} overlaps {} at {:#x}", first, last,
                           prev->second.owner->describe(), prev->first);
    }
    mmio_.emplace(first, Range{last, &owner});
    return {};
}

void IoRouter::remove_mmio(uint64_t first) { mmio_.erase(first); }

Result<> IoRouter::add_pci(const xen::PciSbdf& sbdf, IoTarget& owner) {
    if (!pci_.emplace(encode_sbdf(sbdf), &owner).second)
        return fail_as(ErrorKind::kPolicy, "PCI {:02x}:{:02x}.{} is taken", sbdf.bus, sbdf.device, sbdf.function);
    return {};
}

uint64_t IoRouter::mmio(uint64_t addr, uint8_t size, bool write, uint64_t data) {
    auto it = mmio_.upper_bound(addr);
    if (it != mmio_.begin()) {
        --it;
        if (addr <= it->second.last)
            return it->second.owner->access({transport::AccessKind::kMmio, addr, size, write, data});
    }
    // Xen routed it here, so it was ours a moment ago (a BAR just moved).
    if (unclaimed_++ == 0) log::warn("guest access to unclaimed MMIO {:#x} (reads give all ones)", addr);
    return ~uint64_t{0};
}

uint64_t IoRouter::pci_config(uint32_t sbdf, uint32_t reg, uint8_t size, bool write, uint64_t data) {
    auto it = pci_.find(sbdf);
    if (it != pci_.end()) return it->second->access({transport::AccessKind::kPciConfig, reg, size, write, data});
    if (unclaimed_++ == 0) log::warn("guest config access to unclaimed PCI function {:#x}", sbdf);
    return ~uint64_t{0};
}

}  // namespace xenvhost::device_model
