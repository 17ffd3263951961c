#pragma once
// How a request's buffers in grant regions are reached (--grant-access):
// batched maps (one gntdev map per access direction), a map per buffer
// access (the way rust-vmm's vm-memory reaches Xen grants, kept to measure
// against), or grant copies into worker-owned bounce buffers (one gntdev copy
// call per direction: no page-table change, no TLB flush). `auto` picks copy
// or map by the request's size, from the figures of tests/xen scenario 20.

#include "base/error.hpp"

#include <cstdint>
#include <string_view>

namespace xenvhost::memory {

enum class GrantAccess : uint8_t { kAuto, kMap, kPerAccess, kCopy };

// Requests with at most this many bytes in their buffers (header, data and
// status together: 64 KiB of data and room for both) are copied in `auto`
// mode, larger ones mapped. Measured on the real hypervisor under QEMU TCG
// (tests/xen/README.md, "Grant access"): copies beat batched maps by 2.2x to
// 4.4x for 4, 16 and 64 KiB reads in every run; larger requests were not
// measured, and would make every slot's bounce buffer larger.
inline constexpr uint64_t kAutoCopyMaxBytes = 64 * 1024 + 4096;

// The largest request `copy` copies; larger ones are mapped, so a guest
// cannot make every slot's bounce buffer large.
inline constexpr uint64_t kCopyMaxBytes = 256 * 1024;

// What a request of `bytes` uses under `mode`: kMap, kPerAccess or kCopy.
GrantAccess resolve_grant_access(GrantAccess mode, uint64_t bytes);

std::string_view grant_access_name(GrantAccess mode);
// "auto", "map", "per-access" or "copy".
Result<GrantAccess> parse_grant_access(std::string_view text);

}  // namespace xenvhost::memory
