#pragma once
// How the driver names guest memory in the places the back-end reads
// addresses from: descriptor addresses and memory-region descriptions.
//
// Plain vhost-user (QEMU/KVM): descriptors carry guest-physical addresses and
// regions are 32 bytes. The Xen mode (XEN_MMAP) changes both: regions gain
// xen_mmap_flags and a domid (40 bytes), and with grant mappings a descriptor
// address is `1<<63 | gref<<12 | offset`. Everything that depends on the mode
// goes through this header, so adding the Xen mode means adding an
// addressing implementation and region attributes, nothing else.

#include "vhost_user/messages.hpp"

#include <cstdint>
#include <optional>

namespace xenvhost::frontend {

enum class RegionFormat {
    kPlain,  // 32-byte regions
    kXen,    // 40-byte regions (XEN_MMAP negotiated)
};

// Per-region Xen attributes, sent only in the kXen format.
struct XenRegionAttrs {
    uint32_t flags = 0;  // vhost_user::xen_mmap_flag bits
    uint32_t domid = 0;
};

// Maps a guest-physical range to the address written into a descriptor.
class DescriptorAddressing {
public:
    virtual ~DescriptorAddressing() = default;
    virtual uint64_t descriptor_address(uint64_t gpa) const = 0;
};

// Descriptors carry guest-physical addresses (QEMU/KVM, Xen foreign mappings).
class GpaAddressing final : public DescriptorAddressing {
public:
    uint64_t descriptor_address(uint64_t gpa) const override { return gpa; }
};

// Xen grant addressing: bit 63 set, the grant reference in bits 12-62, the
// offset within the 4 KiB Xen frame in bits 0-11. A multi-page buffer uses
// consecutive grefs.
inline constexpr uint64_t kGrantAddressFlag = uint64_t{1} << 63;
inline constexpr unsigned kXenPageShift = 12;
constexpr uint64_t grant_address(uint64_t gref, uint32_t offset) {
    return kGrantAddressFlag | (gref << kXenPageShift) | (offset & 0xfff);
}

// Grant addressing over a guest whose frames were granted in gpa order:
// gref = first_gref + (gpa >> 12). A Xen grant-table double supplies this.
class GrantAddressing final : public DescriptorAddressing {
public:
    explicit GrantAddressing(uint64_t first_gref) : first_gref_(first_gref) {}
    uint64_t descriptor_address(uint64_t gpa) const override {
        return grant_address(first_gref_ + (gpa >> kXenPageShift),
                             static_cast<uint32_t>(gpa & 0xfff));
    }

private:
    uint64_t first_gref_;
};

}  // namespace xenvhost::frontend
