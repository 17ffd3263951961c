#pragma once
// Xen region flags and guest addresses: grant addresses are 1<<63 | gref<<12
// | offset (consecutive grefs for a multi-page buffer), foreign addresses are
// guest frame numbers <<12. Xen frames are 4 KiB whatever the host page size.

#include "base/error.hpp"

#include <cstdint>
#include <vector>

namespace xenvhost::memory {

inline constexpr uint64_t kXenPageShift = 12;
inline constexpr uint64_t kXenPageSize = uint64_t{1} << kXenPageShift;
inline constexpr uint64_t kGrantAddressFlag = uint64_t{1} << 63;

enum class XenRegionKind { kPlain, kForeign, kGrant };

// Where one buffer lands in a batched mapping of several buffers.
struct PageSpan {
    size_t first_page;  // index of the buffer's first page in the batch
    uint32_t offset;    // offset of the buffer in that page
};

// Appends the frames (grant refs or guest frame numbers) that [addr, addr+len)
// touches to `frames`; fails if the address is not of the region's kind or
// the frame numbers overflow.
Result<PageSpan> gather_pages(XenRegionKind kind, uint64_t addr, uint64_t len, std::vector<uint64_t>& frames);

}  // namespace xenvhost::memory
