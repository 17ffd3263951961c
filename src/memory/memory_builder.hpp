#pragma once
// Builds one device's guest memory from what its front-end sends: a region per
// memory-table entry (with the fd that came with it) and, over the table, the
// view that the negotiated addressing calls for. Every choice of mapping
// strategy is made here, so the protocol layer never sees a Xen handle.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "memory/grant_access.hpp"
#include "memory/guest_memory.hpp"
#include "memory/iotlb.hpp"
#include "memory/map_stats.hpp"
#include "memory/region.hpp"
#include "memory/region_table.hpp"
#include "memory/xen_handles.hpp"

#include <cstdint>
#include <memory>
#include <optional>

namespace xenvhost::memory {

struct MemoryPolicy {
    // Serves a Xen guest: Xen regions are accepted (and XEN_MMAP offered).
    bool xen = false;
    std::optional<uint32_t> domid;  // Xen regions of any other domain are refused
    // Foreign regions the front-end lets us map in advance are mapped whole
    // when they arrive, instead of page by page per request.
    bool foreign_map_whole = true;
    // How requests reach buffers in grant regions (--grant-access).
    GrantAccess grant_access = GrantAccess::kAuto;
};

// How rings and buffers are addressed on a connection.
enum class Addressing : uint8_t {
    kGuestPhysical,  // guest addresses inside fd-backed regions: plain mmap
    kXen,            // guest addresses inside Xen regions (XEN_MMAP): grant or foreign mappings
    kIoVirtual,      // I/O virtual addresses translated through the device IOTLB
};

class MemoryBuilder {
public:
    MemoryBuilder() = default;
    MemoryBuilder(MemoryPolicy policy, XenHandles handles) : policy_(policy), handles_(std::move(handles)) {}

    const MemoryPolicy& policy() const { return policy_; }

    // A region the front-end described, with the fd it sent. A plain region
    // is mapped now. A Xen region is checked (the mapping it needs exists
    // here, the fd is the device it claims, the domain is this guest; each a
    // kPolicy refusal) and mapped whole now or page by page later.
    Result<std::shared_ptr<const Region>> make_region(const RegionDesc& desc, UniqueFd fd,
                                                      const std::shared_ptr<MapStats>& stats) const;

    // The view of `table` for `addressing`; null for an empty table.
    std::shared_ptr<const GuestMemory> make_view(const RegionTable& table, Addressing addressing,
                                                 const std::shared_ptr<Iotlb>& iotlb,
                                                 const std::shared_ptr<MapStats>& stats) const;

private:
    Result<std::shared_ptr<const Region>> make_xen_region(const RegionDesc& desc, UniqueFd fd,
                                                          const std::shared_ptr<MapStats>& stats) const;

    MemoryPolicy policy_;
    XenHandles handles_;
};

}  // namespace xenvhost::memory
