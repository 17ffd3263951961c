#include "memory/memory_builder.hpp"

#include "base/log.hpp"
#include "memory/foreign_region.hpp"
#include "memory/iotlb_memory.hpp"
#include "memory/plain_memory.hpp"
#include "memory/xen_memory.hpp"
#include "xen/device_fd.hpp"

namespace xenvhost::memory {

Result<std::shared_ptr<const Region>> MemoryBuilder::make_region(const RegionDesc& d, UniqueFd fd,
                                                                 const std::shared_ptr<MapStats>& stats) const {
    if (auto ok = validate_region(d); !ok) return pass(ok.error());
    // The fd is closed when `fd` goes out of scope: a plain region keeps its
    // mapping, a Xen region is mapped through this process's own handles.
    if (d.kind == XenRegionKind::kPlain) return Region::map_plain(d, fd.get());
    return make_xen_region(d, std::move(fd), stats);
}

Result<std::shared_ptr<const Region>> MemoryBuilder::make_xen_region(const RegionDesc& d, UniqueFd fd,
                                                                     const std::shared_ptr<MapStats>& stats) const {
    const bool grant = d.kind == XenRegionKind::kGrant;
    if (!policy_.xen) return fail_as(ErrorKind::kPolicy, "Xen regions are not accepted here (not a Xen guest)");
    if (policy_.domid && d.domid != *policy_.domid)
        return fail_as(ErrorKind::kPolicy, "region of domain {}, but this process serves domain {}", d.domid,
                       *policy_.domid);
    if (grant && !handles_.grants) return fail_as(ErrorKind::kPolicy, "grant mapping is not available on this host");
    if (!grant && !handles_.foreign) return fail_as(ErrorKind::kPolicy, "{}", handles_.foreign_unavailable());
    if (auto ok = xen::check_device_fd(fd.get(), grant ? xen::XenDevice::kGntdev : xen::XenDevice::kPrivcmd); !ok)
        return pass(ok.error(), ErrorKind::kPolicy);
    if (!grant && policy_.foreign_map_whole && can_map_foreign_whole(d)) {
        auto whole = map_foreign_whole(d, handles_.foreign, stats);
        if (whole) return whole;
        // Requests touching the bad frames fail when they map them; the rest work.
        log::warn("{}; mapping it per request instead", whole.error().message);
    }
    return Region::unmapped(d);
}

std::shared_ptr<const GuestMemory> MemoryBuilder::make_view(const RegionTable& table, Addressing addressing,
                                                            const std::shared_ptr<Iotlb>& iotlb,
                                                            const std::shared_ptr<MapStats>& stats) const {
    if (table.empty()) return nullptr;  // the last region went away
    switch (addressing) {
        case Addressing::kXen: return std::make_shared<const XenMemory>(table, handles_, stats, policy_.grant_access);
        case Addressing::kIoVirtual: return std::make_shared<const IotlbMemory>(table, iotlb);
        case Addressing::kGuestPhysical: break;
    }
    return std::make_shared<const PlainMemory>(table);
}

}  // namespace xenvhost::memory
