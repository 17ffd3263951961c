#pragma once
// xen_mmap_flags of a region with the XEN_MMAP layout.

#include "base/error.hpp"
#include "memory/xen_address.hpp"

#include <cstdint>

namespace xenvhost::vhost_user {

struct XenRegionFlags {
    memory::XenRegionKind kind = memory::XenRegionKind::kPlain;
    bool no_advance_map = false;
};

// 0x1 foreign, 0x2 grant; "no advance map" is 0x100 in the specification and
// 0x8 in deployed front-ends, and both are accepted. Foreign and grant
// together, or unknown bits, are refused.
Result<XenRegionFlags> parse_xen_flags(uint32_t flags);

}  // namespace xenvhost::vhost_user
