#pragma once
// Guest memory of a front-end that is its own Xen guest: pages granted with
// libxengnttab's gntshr side (/dev/xen/gntalloc) to a domain (dom0 itself
// here), laid out in "grant space": the page of grant ref R sits at guest
// address R<<12. With GrantAddressing(0), a descriptor then carries
// 1<<63 | R<<12 | offset, which is what Linux's grant DMA layer puts there,
// and a buffer spanning pages has consecutive refs by construction. The
// kernel hands refs out of a free list, so they are not always consecutive:
// each run of consecutive refs becomes its own region, and no allocation
// crosses from one run to the next.

#include "base/error.hpp"
#include "frontend/guest_memory.hpp"
#include "xen_libs.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace xenvhost::grantfe {

struct GrantRun {
    uint32_t first_ref = 0;
    uint32_t pages = 0;
};

class GrantPool {
public:
    // Grants `pages` writable pages to `domid` in one xengntshr_share_pages call.
    static Result<std::unique_ptr<GrantPool>> share(xengntshr_handle* shr, uint32_t domid, uint32_t pages);

    frontend::GuestMemory& memory() { return memory_; }
    const frontend::GuestMemory& memory() const { return memory_; }
    // Refs in the order of the pages xengntshr_share_pages returned.
    const std::vector<uint32_t>& refs() const { return refs_; }
    // Runs of consecutive refs, in grant-space order (= memory region order).
    const std::vector<GrantRun>& runs() const { return runs_; }
    size_t largest_run() const;
    uint32_t max_ref() const;
    bool contains(uint32_t ref) const;
    // "refs 8..263 in 3 runs: 15, 14, 16..263" (long lists abridged).
    std::string describe() const;

private:
    GrantPool() = default;

    frontend::GuestMemory memory_;
    std::vector<uint32_t> refs_;
    std::vector<GrantRun> runs_;
};

inline uint64_t grant_gpa(uint32_t ref) { return uint64_t{ref} << 12; }

}  // namespace xenvhost::grantfe
