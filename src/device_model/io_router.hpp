#pragma once
// Which transport answers a guest access: MMIO ranges claimed by the
// devices (never overlapping one another) and PCI functions by their
// address. An access nobody claimed reads as all ones.

#include "base/error.hpp"
#include "transport/transport.hpp"
#include "xen/device_model.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace xenvhost::device_model {

// What the router hands an access to: a guest device (its transport may
// not exist yet while it is being created and claims its first range).
class IoTarget {
public:
    virtual ~IoTarget() = default;
    virtual uint64_t access(const transport::IoAccess& access) = 0;
    virtual std::string describe() const = 0;
};

class IoRouter {
public:
    // kPolicy when [first, last] overlaps another device's range.
    Result<> add_mmio(uint64_t first, uint64_t last, IoTarget& owner);
    void remove_mmio(uint64_t first);
    Result<> add_pci(const xen::PciSbdf& sbdf, IoTarget& owner);

    // The read value (ignored for writes).
    uint64_t mmio(uint64_t addr, uint8_t size, bool write, uint64_t data);
    uint64_t pci_config(uint32_t sbdf, uint32_t reg, uint8_t size, bool write, uint64_t data);

    uint64_t unclaimed_accesses() const { return unclaimed_; }

private:
    struct Range {
        uint64_t last;
        IoTarget* owner;
    };
    std::map<uint64_t, Range> mmio_;  // by first address
    std::map<uint32_t, IoTarget*> pci_;  // by the SBDF as Xen encodes it
    uint64_t unclaimed_ = 0;
};

// Xen's encoding of a PCI address in a PCI_CONFIG ioreq (XEN_DMOP_PCI_SBDF).
uint32_t encode_sbdf(const xen::PciSbdf& sbdf);

}  // namespace xenvhost::device_model
