#pragma once
// Guest memory of a Xen guest as the test front-end sees it, backed by the
// double's memory file (page N = guest frame N = the page of grant ref N),
// and the 40-byte region tables a Xen device model sends for it:
//
//  grant mode (xen-vhost-frontend): every ring area in its own region mapped
//    in advance (flags 0x2), the rest of the guest in "no advance map"
//    regions (0x2|0x8, or 0x2|0x100 as the specification spells it) with
//    user address 0; addresses are 1<<63 | gref<<12. The guest's frames are
//    granted with gref = frame, so the grant address of a guest-physical
//    address is 1<<63 | gpa.
//  foreign mode (QEMU as a Xen device model): one region per RAM range,
//    flags 0x1, guest-physical addresses.
//
// Each region's fd is the stand-in character device (gntdev or privcmd).

#include "base/error.hpp"
#include "frontend/guest_memory.hpp"
#include "frontend/vhost_client.hpp"
#include "frontend/xen_double_files.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace xenvhost::frontend {

// Guest memory with `layout`'s regions mapped from the double's memory
// file at their guest-physical addresses.
Result<GuestMemory> make_xen_guest_memory(const XenDoubleFiles& files, std::span<const RegionLayout> layout);

struct XenRingArea {
    uint64_t gpa = 0;  // guest-physical
    uint64_t len = 0;
};

// Grant-mode table covering [0, guest_size): ring areas mapped in advance,
// gaps with `no_advance_flag` (xen_mmap_flag::kNoAdvanceMapDeployed or
// kNoAdvanceMapSpec).
std::vector<RegionMessage> grant_region_messages(const GuestMemory& mem, std::span<const XenRingArea> rings,
                                                 uint64_t guest_size, uint32_t domid, uint32_t no_advance_flag,
                                                 int gntdev_fd);

// Foreign-mode table: one region per guest memory region, user address the
// front-end's own mapping (as xen-vhost-frontend sends it).
std::vector<RegionMessage> foreign_region_messages(const GuestMemory& mem, uint32_t domid, int privcmd_fd);

// The three ring areas of a split queue, sized as xen-vhost-frontend sizes
// its ring regions (descriptors 16n, avail 6+2n, used 6+8n bytes).
std::vector<XenRingArea> ring_areas(uint64_t desc, uint64_t avail, uint64_t used, uint16_t size);

}  // namespace xenvhost::frontend
