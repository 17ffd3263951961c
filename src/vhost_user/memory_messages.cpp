// SET_MEM_TABLE, ADD_MEM_REG and REM_MEM_REG: region layouts, validation and
// the atomic swap of the memory table.

#include "base/log.hpp"
#include "memory/foreign_region.hpp"
#include "memory/iotlb_memory.hpp"
#include "memory/plain_memory.hpp"
#include "virtio/ring_layout.hpp"
#include "vhost_user/backend_session.hpp"
#include "vhost_user/xen_region_flags.hpp"
#include "xen/device_fd.hpp"

#include <cstring>

namespace xenvhost::vhost_user {

Result<memory::RegionDesc> BackendSession::parse_region(const uint8_t* p, bool xen_layout) const {
    memory::RegionDesc d;
    MemoryRegion r;
    std::memcpy(&r, p, sizeof r);
    d.gpa = r.guest_phys_addr;
    d.size = r.memory_size;
    d.uaddr = r.user_addr;
    d.mmap_offset = r.mmap_offset;
    if (auto ok = memory::validate_region(d); !ok) return std::unexpected(ok.error());
    if (xen_layout) {
        XenMemoryRegion x;
        std::memcpy(&x, p, sizeof x);
        // Policy refusals carry EPERM: the table is refused, the connection stays.
        auto flags = parse_xen_flags(x.xen_mmap_flags);
        if (!flags) return std::unexpected(Error{flags.error().message, EPERM});
        d.kind = flags->kind;
        d.no_advance_map = flags->no_advance_map;
        d.domid = x.domid;
        if (d.kind != memory::XenRegionKind::kPlain && options_.domid && d.domid != *options_.domid)
            return std::unexpected(
                Error{fmt::format("region of domain {}, but this worker serves domain {}", d.domid, *options_.domid),
                      EPERM});
    }
    return d;
}

Result<std::shared_ptr<const memory::Region>> BackendSession::make_region(const memory::RegionDesc& d,
                                                                          UniqueFd fd) const {
    // The fd is closed when `fd` goes out of scope: a plain region keeps its
    // mapping, a Xen region is mapped later through the worker's own handles.
    if (d.kind == memory::XenRegionKind::kPlain) return memory::Region::map_plain(d, fd.get());
    const bool grant = d.kind == memory::XenRegionKind::kGrant;
    if (grant ? !options_.xen_handles.grants : !options_.xen_handles.foreign)
        return std::unexpected(
            Error{fmt::format("{} mapping is not available on this host", grant ? "grant" : "foreign"), EPERM});
    if (auto ok = xen::check_device_fd(fd.get(), grant ? xen::XenDevice::kGntdev : xen::XenDevice::kPrivcmd); !ok)
        return std::unexpected(Error{ok.error().message, EPERM});
    if (!grant && options_.foreign_map_whole && memory::can_map_foreign_whole(d)) {
        auto whole = memory::map_foreign_whole(d, options_.xen_handles.foreign, options_.map_stats);
        if (whole) return whole;
        // Requests touching the bad frames fail when they map them; the rest work.
        log::warn("{}; mapping it per request instead", whole.error().message);
    }
    return memory::Region::unmapped(d);
}

BackendSession::HandlerResult BackendSession::region_error(uint32_t index, const Error& e) const {
    if (e.err == EPERM) {
        log::warn("memory region {} refused: {}", index, e.message);
        return Outcome::kRefused;
    }
    return fail("region {}: {}", index, e.message);
}

BackendSession::HandlerResult BackendSession::install_memory(memory::RegionTable table) {
    table_ = std::move(table);
    return rebuild_memory();
}

bool BackendSession::iotlb_mode() const {
    // Xen front-ends advertise ACCESS_PLATFORM but address memory with grants.
    return (acked_features_ & bit(virtio::kFAccessPlatform)) && !has_protocol_feature(protocol_feature::kXenMmap);
}

BackendSession::HandlerResult BackendSession::rebuild_memory() {
    std::shared_ptr<const memory::GuestMemory> mem;
    if (table_.empty())
        mem = nullptr;  // the last region went away
    else if (has_protocol_feature(protocol_feature::kXenMmap))
        mem = std::make_shared<const memory::XenMemory>(table_, options_.xen_handles, options_.map_stats);
    else if (iotlb_mode())
        mem = std::make_shared<const memory::IotlbMemory>(table_, iotlb_);
    else
        mem = std::make_shared<const memory::PlainMemory>(table_);
    memory_ = mem;
    if (auto r = runner_.set_memory(mem); !r) {
        log::warn("running rings could not follow the new memory table: {}", r.error().message);
        return Outcome::kRefused;
    }
    return Outcome::kOk;
}

BackendSession::HandlerResult BackendSession::set_mem_table(Message& msg) {
    MemoryTableHeader hdr;
    std::memcpy(&hdr, msg.payload.data(), sizeof hdr);
    const bool xen_layout = has_protocol_feature(protocol_feature::kXenMmap);
    const size_t stride = xen_layout ? sizeof(XenMemoryRegion) : sizeof(MemoryRegion);
    // The stride comes from negotiation and is checked against the size, so
    // a front-end that acked XEN_MMAP but sends 32-byte regions is caught.
    if (hdr.num_regions == 0 || hdr.num_regions > kMaxFds)
        return fail("{} regions (1..{} allowed)", hdr.num_regions, kMaxFds);
    if (msg.payload.size() != sizeof hdr + hdr.num_regions * stride)
        return fail("payload of {} bytes does not hold {} regions of {} bytes", msg.payload.size(),
                    hdr.num_regions, stride);
    if (msg.fds.size() != hdr.num_regions)
        return fail("{} regions but {} fds", hdr.num_regions, msg.fds.size());
    std::vector<std::shared_ptr<const memory::Region>> regions;
    for (uint32_t i = 0; i < hdr.num_regions; ++i) {
        auto d = parse_region(msg.payload.data() + sizeof hdr + i * stride, xen_layout);
        if (!d) return region_error(i, d.error());
        auto region = make_region(*d, std::move(msg.fds[i]));
        if (!region) return region_error(i, region.error());
        regions.push_back(std::move(*region));
    }
    auto table = memory::RegionTable::build(std::move(regions));
    if (!table) return std::unexpected(table.error());
    return install_memory(std::move(*table));
}

BackendSession::HandlerResult BackendSession::add_mem_reg(Message& msg) {
    const bool xen_layout = has_protocol_feature(protocol_feature::kXenMmap);
    const size_t expect = kSingleRegionPadding + (xen_layout ? sizeof(XenMemoryRegion) : sizeof(MemoryRegion));
    if (msg.payload.size() != expect) return fail("payload of {} bytes, expected {}", msg.payload.size(), expect);
    auto d = parse_region(msg.payload.data() + kSingleRegionPadding, xen_layout);
    if (!d) return region_error(0, d.error());
    auto region = make_region(*d, std::move(msg.fds[0]));
    if (!region) return region_error(0, region.error());
    auto table = table_.with(std::move(*region));
    if (!table) return std::unexpected(table.error());
    return install_memory(std::move(*table));
}

BackendSession::HandlerResult BackendSession::rem_mem_reg(Message& msg) {
    const bool xen_layout = has_protocol_feature(protocol_feature::kXenMmap);
    const size_t expect = kSingleRegionPadding + (xen_layout ? sizeof(XenMemoryRegion) : sizeof(MemoryRegion));
    if (msg.payload.size() != expect) return fail("payload of {} bytes, expected {}", msg.payload.size(), expect);
    auto d = parse_region(msg.payload.data() + kSingleRegionPadding, xen_layout);
    if (!d) return region_error(0, d.error());
    auto table = table_.without(d->gpa, d->uaddr, d->size);
    if (!table) {
        log::warn("REM_MEM_REG: {}", table.error().message);
        return Outcome::kRefused;
    }
    return install_memory(std::move(*table));
}

}  // namespace xenvhost::vhost_user
