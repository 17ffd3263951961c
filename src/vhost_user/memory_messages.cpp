// SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG and IOTLB_MSG: region layouts and
// the atomic swap of the memory table. What a region becomes (mapped now,
// later, or refused) is the memory builder's decision.

#include "base/log.hpp"
#include "vhost_user/backend_session.hpp"
#include "vhost_user/session_errors.hpp"
#include "vhost_user/xen_region_flags.hpp"

#include <cstring>

namespace xenvhost::vhost_user {

Result<memory::RegionDesc> BackendSession::parse_region(const uint8_t* p, bool xen_layout) const {
    memory::RegionDesc d;
    const auto r = read_at<MemoryRegion>(p);
    d.gpa = r.guest_phys_addr;
    d.size = r.memory_size;
    d.uaddr = r.user_addr;
    d.mmap_offset = r.mmap_offset;
    if (xen_layout) {
        const auto x = read_at<XenMemoryRegion>(p);
        auto flags = parse_xen_flags(x.xen_mmap_flags);
        if (!flags) return pass(flags.error(), ErrorKind::kPolicy);  // the table is refused, the connection stays
        d.kind = flags->kind;
        d.no_advance_map = flags->no_advance_map;
        d.domid = x.domid;
    }
    return d;
}

Result<std::shared_ptr<const memory::Region>> BackendSession::take_region(const uint8_t* p, bool xen_layout,
                                                                          UniqueFd fd) const {
    auto d = parse_region(p, xen_layout);
    if (!d) return pass(d.error());
    return options_.memory->make_region(*d, std::move(fd), options_.map_stats);
}

Result<> BackendSession::install_memory(memory::RegionTable table) {
    table_ = std::move(table);
    return rebuild_memory();
}

memory::Addressing BackendSession::addressing() const {
    if (has_protocol_feature(protocol_feature::kXenMmap)) return memory::Addressing::kXen;
    // Xen front-ends advertise ACCESS_PLATFORM but address memory with grants.
    if (acked_features_ & bit(virtio::kFAccessPlatform)) return memory::Addressing::kIoVirtual;
    return memory::Addressing::kGuestPhysical;
}

Result<> BackendSession::rebuild_memory() {
    memory_ = options_.memory->make_view(table_, addressing(), iotlb_, options_.map_stats);
    if (auto r = runner_.set_memory(memory_); !r)
        return refuse("running rings could not follow the new memory table: {}", r.error().message);
    return {};
}

namespace {
// A region error keeps its kind: a policy refusal keeps the connection, anything else ends it.
Error region_error(uint32_t index, const Error& e) {
    return Error{fmt::format("region {}: {}", index, e.message), e.err, e.kind};
}
}  // namespace

Result<> BackendSession::set_mem_table(Message& msg) {
    const auto hdr = read_payload<MemoryTableHeader>(msg.payload);
    const bool xen_layout = has_protocol_feature(protocol_feature::kXenMmap);
    const size_t stride = xen_layout ? sizeof(XenMemoryRegion) : sizeof(MemoryRegion);
    // The stride comes from negotiation and is checked against the size, so
    // a front-end that acked XEN_MMAP but sends 32-byte regions is caught.
    if (hdr.num_regions == 0 || hdr.num_regions > kMaxFds)
        return violation("{} regions (1..{} allowed)", hdr.num_regions, kMaxFds);
    if (msg.payload.size() != sizeof hdr + hdr.num_regions * stride)
        return violation("payload of {} bytes does not hold {} regions of {} bytes", msg.payload.size(),
                         hdr.num_regions, stride);
    if (msg.fds.size() != hdr.num_regions) return violation("{} regions but {} fds", hdr.num_regions, msg.fds.size());
    std::vector<std::shared_ptr<const memory::Region>> regions;
    for (uint32_t i = 0; i < hdr.num_regions; ++i) {
        auto region = take_region(msg.payload.data() + sizeof hdr + i * stride, xen_layout, std::move(msg.fds[i]));
        if (!region) return std::unexpected(region_error(i, region.error()));
        regions.push_back(std::move(*region));
    }
    auto table = memory::RegionTable::build(std::move(regions));
    if (!table) return pass(table.error());
    return install_memory(std::move(*table));
}

Result<const uint8_t*> BackendSession::single_region(const Message& msg) const {
    const bool xen_layout = has_protocol_feature(protocol_feature::kXenMmap);
    const size_t expect = kSingleRegionPadding + (xen_layout ? sizeof(XenMemoryRegion) : sizeof(MemoryRegion));
    if (msg.payload.size() != expect) return violation("payload of {} bytes, expected {}", msg.payload.size(), expect);
    return msg.payload.data() + kSingleRegionPadding;
}

Result<> BackendSession::add_mem_reg(Message& msg) {
    auto at = single_region(msg);
    if (!at) return pass(at.error());
    auto region = take_region(*at, has_protocol_feature(protocol_feature::kXenMmap), std::move(msg.fds[0]));
    if (!region) return std::unexpected(region_error(0, region.error()));
    auto table = table_.with(std::move(*region));
    if (!table) return pass(table.error());
    return install_memory(std::move(*table));
}

Result<> BackendSession::rem_mem_reg(Message& msg) {
    auto at = single_region(msg);
    if (!at) return pass(at.error());
    auto d = parse_region(*at, has_protocol_feature(protocol_feature::kXenMmap));
    if (!d) return std::unexpected(region_error(0, d.error()));
    // Removing a region that is not there changes nothing: refused, not fatal.
    auto table = table_.without(d->gpa, d->uaddr, d->size);
    if (!table) return pass(table.error(), ErrorKind::kPolicy);
    return install_memory(std::move(*table));
}

Result<> BackendSession::iotlb_msg(Message& msg) {
    const auto m = read_payload<IotlbMsg>(msg.payload);
    uint64_t status = kReplyOk;
    log::debug("IOTLB type {} iova {:#x} size {:#x} uaddr {:#x} perm {}", m.type, m.iova, m.size, m.uaddr, m.perm);
    switch (m.type) {
        case iotlb_type::kUpdate:
            if (m.size == 0 || m.iova + m.size < m.iova || m.perm > memory::iotlb_perm::kReadWrite)
                status = kReplyFailed;
            else
                iotlb_->update(m.iova, m.size, m.uaddr, m.perm);
            break;
        case iotlb_type::kInvalidate: iotlb_->invalidate(m.iova, m.size); break;
        default: status = kReplyFailed;
    }
    return conn_.reply_u64(msg.header.request, status);
}

}  // namespace xenvhost::vhost_user
