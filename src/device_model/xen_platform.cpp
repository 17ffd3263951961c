#include "device_model/xen_platform.hpp"

#include "base/log.hpp"

namespace xenvhost::device_model {

XenPlatform::~XenPlatform() {
    while (!claimed_.empty()) {
        auto [first, last] = *claimed_.begin();
        (void)release_mmio(first, last);
    }
    if (level_) set_irq_level(false);
}

Result<> XenPlatform::claim_mmio(uint64_t first, uint64_t last) {
    if (last < first) return fail_as(ErrorKind::kPolicy, "MMIO range {:#x}-{:#x} is empty", first, last);
    if (overlaps_ram(first, last))
        return fail_as(ErrorKind::kPolicy, "MMIO {:#x}-{:#x} overlaps the guest's RAM", first, last);
    if (auto ok = router_.add_mmio(first, last, target_); !ok) return pass(ok.error());
    if (auto ok = server_.map_mmio(first, last); !ok) {
        router_.remove_mmio(first);
        // Xen refuses a range another of our claims holds; any other failure is ours.
        return pass(ok.error(), ok.error().err == EEXIST ? ErrorKind::kPolicy : ErrorKind::kInternal);
    }
    claimed_[first] = last;
    return {};
}

Result<> XenPlatform::release_mmio(uint64_t first, uint64_t last) {
    auto it = claimed_.find(first);
    if (it == claimed_.end() || it->second != last)
        return fail("MMIO {:#x}-{:#x} is not claimed by this device", first, last);
    claimed_.erase(it);
    router_.remove_mmio(first);
    return server_.unmap_mmio(first, last);
}

bool XenPlatform::overlaps_ram(uint64_t first, uint64_t last) const {
    for (const auto& r : ram_)
        if (first <= r.last && r.first <= last) return true;
    return false;
}

void XenPlatform::set_irq_level(bool asserted) {
    if (asserted == level_) return;  // one hypercall per edge, not per request
    level_ = asserted;
    ++level_changes_;
    Result<> ok = line_.pci ? dm_.set_pci_intx_level(*line_.pci, 0, asserted) : dm_.set_irq_level(line_.irq, asserted);
    if (!ok) log::error("{}", ok.error().message);
}

// The address and data are the guest's: Xen may refuse what a guest
// programmed, at every interrupt, so only the first refusal is an error line.
void XenPlatform::send_msi(uint64_t address, uint32_t data) {
    ++msis_;
    if (auto ok = dm_.inject_msi(address, data); !ok) {
        if (msi_failures_++ == 0)
            log::error("{} (later failures are logged at debug level)", ok.error().message);
        else
            log::debug("{} ({} failures)", ok.error().message, msi_failures_);
    }
}

}  // namespace xenvhost::device_model
