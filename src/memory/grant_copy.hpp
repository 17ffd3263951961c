#pragma once
// A request slot's grant copies (--grant-access copy): the guest's buffers
// in grant regions are reached through a bounce buffer the worker owns.
// Driver-written pieces are copied in with one gntdev copy call before the
// request starts; device-written pieces are copied back with one call when
// it completes, before its used element is published. No page-table change,
// no TLB flush, no mapping for the guest to wait on.
//
// The bounce buffer grows to the largest request the slot has copied and is
// kept, so a warm slot's requests allocate nothing. Every piece starts on a
// 4 KiB boundary, which satisfies any O_DIRECT memory alignment.

#include "base/error.hpp"
#include "base/mapping.hpp"
#include "memory/map_stats.hpp"
#include "xen/grant_table.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace xenvhost::memory {

class GrantCopies {
public:
    // A new request: no pieces; the bounce buffer and the lists keep their storage.
    void clear();
    // Adds [addr, addr+len) of grant address space in domain `domid` as one
    // piece of the bounce buffer; returns the piece's offset there.
    // `device_written`: copied back to the guest by copy_back().
    Result<uint64_t> add(uint64_t addr, uint64_t len, uint32_t domid, bool device_written);
    // Makes the bounce buffer large enough for every piece added and points
    // the segments at it; returns its start (valid until the next request).
    Result<uint8_t*> place();
    // Copies the driver-written pieces into the bounce buffer (one call).
    Result<> copy_in(xen::GrantTable& grants, MapStats& stats);
    // Copies the device-written pieces back to the guest (one call). A
    // failed segment fails the request: the guest did not get its data.
    Result<> copy_back(xen::GrantTable& grants, MapStats& stats);
    bool has_copy_back() const { return !back_.empty(); }
    // The segments of each direction (tests).
    std::span<const xen::GrantCopySegment> copy_in_segments() const { return in_; }
    std::span<const xen::GrantCopySegment> copy_back_segments() const { return back_; }

private:
    // The segments hold bounce offsets in their `virt` until place() turns them into addresses.
    std::vector<xen::GrantCopySegment> in_, back_;
    uint64_t used_ = 0;  // bytes of the bounce buffer the pieces take
    Mapping bounce_;
};

}  // namespace xenvhost::memory
