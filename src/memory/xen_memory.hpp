#pragma once
// Guest memory of a Xen guest whose front-end negotiated XEN_MMAP. Nothing is
// mapped when the table arrives: rings are mapped long-lived when they start,
// and each request's buffers are reached as GrantAccess says: gathered page
// by page and mapped with one batched call per access direction (the guest
// grants driver-written pages read-only, and one gntdev mapping has one
// protection), then unmapped before the request completes; or mapped one
// buffer at a time (per access); or, for grant regions, copied through the
// slot's bounce buffer (grant_copy.hpp). A request's frame lists, mappings
// and copies live in its slot's scratch, so the request path allocates
// nothing once the slot is warm.

#include "memory/grant_access.hpp"
#include "memory/guest_memory.hpp"
#include "memory/map_stats.hpp"
#include "memory/region_table.hpp"
#include "memory/xen_handles.hpp"

#include <memory>

namespace xenvhost::memory {

class XenMemory final : public GuestMemory {
public:
    XenMemory(RegionTable table, XenHandles handles, std::shared_ptr<MapStats> stats,
              GrantAccess access = GrantAccess::kMap)
        : table_(std::move(table)), handles_(std::move(handles)), stats_(std::move(stats)), access_(access) {}

    std::string_view mode() const override;
    Result<RingMapping> map_ring(uint64_t gpa, uint64_t len, bool writable) const override;
    bool read(uint64_t gpa, std::span<uint8_t> dst) const override;
    bool read_fresh(uint64_t gpa, std::span<uint8_t> dst) const override;
    Result<> map_buffers(std::span<const GuestBuffer> buffers, MappedBuffers& out) const override;

    const RegionTable& table() const { return table_; }

    struct FrameMapping;
    struct Scratch;

private:
    Result<FrameMapping> map_frames(XenRegionKind kind, uint32_t domid, std::span<const uint64_t> frames,
                                    bool writable, Scratch& scratch) const;

    RegionTable table_;
    XenHandles handles_;
    std::shared_ptr<MapStats> stats_;
    GrantAccess access_;
};

}  // namespace xenvhost::memory
