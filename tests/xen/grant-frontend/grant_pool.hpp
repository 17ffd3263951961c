#pragma once
// Guest memory of a front-end that is its own Xen guest: pages granted with
// libxengnttab's gntshr side (/dev/xen/gntalloc) to a domain (dom0 itself
// here), laid out in "grant space": the page of grant ref R sits at guest
// address R<<12. With GrantAddressing(0), a descriptor then carries
// 1<<63 | R<<12 | offset, which is what Linux's grant DMA layer puts there,
// and a buffer spanning pages has consecutive refs by construction.
//
// The kernel hands refs out of a LIFO free list, so they are not always
// consecutive: refs freed by an earlier run come back in descending order.
// Each run of ascending consecutive refs (pages adjacent in the shared area)
// becomes one region; runs too short for a ring or a slot buffer stay
// granted but unused, and more pages are shared until enough lie in long runs.

#include "base/error.hpp"
#include "base/mapping.hpp"
#include "frontend/guest_memory.hpp"
#include "xen_libs.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace xenvhost::grantfe {

// Shortest run used: a 64 KiB slot buffer (and more than the rings need).
inline constexpr uint32_t kMinRunPages = 16;
// gntalloc grants at most 1024 pages by default; the revoked page needs one.
inline constexpr uint32_t kGrantBudgetPages = 1000;
// A guest's memory: regions of one SET_MEM_TABLE.
inline constexpr size_t kMaxRegions = 8;

struct GrantRun {
    uint32_t first_ref = 0;
    uint32_t pages = 0;
};

// The same layout serves a real guest's memory seen from dom0: its grants to
// dom0 (page of ref R at R<<12, mapped through gntdev) or, in foreign mode,
// its frames (page of machine frame M at M<<12, mapped through privcmd).
class GrantPool {
public:
    // Shares `pages` writable pages to `domid` per xengntshr_share_pages
    // call, until at least `pages` of them lie in runs of kMinRunPages or
    // more (or the budget is spent).
    static Result<std::unique_ptr<GrantPool>> share(xengntshr_handle* shr, uint32_t domid, uint32_t pages);

    // Maps the refs `domid` granted to dom0, each run of consecutive refs
    // with one call.
    static Result<std::unique_ptr<GrantPool>> map_guest_grants(xengnttab_handle* tab, uint32_t domid,
                                                               const std::vector<uint64_t>& refs);
    // Maps machine frames of `domid`, each run of consecutive frames with one call.
    static Result<std::unique_ptr<GrantPool>> map_guest_frames(xenforeignmemory_handle* fm, uint32_t domid,
                                                               const std::vector<uint64_t>& frames);

    frontend::GuestMemory& memory() { return memory_; }
    const frontend::GuestMemory& memory() const { return memory_; }
    // Every ref granted, in the order of the pages of each share call.
    const std::vector<uint32_t>& refs() const { return refs_; }
    // The runs in use, in grant-space order (= memory region order).
    const std::vector<GrantRun>& runs() const { return runs_; }
    size_t largest_run() const;
    uint32_t max_ref() const;
    bool contains(uint32_t ref) const;
    std::string describe() const;

private:
    GrantPool() = default;
    using MapRun = std::function<Result<void*>(uint64_t first, uint32_t pages)>;
    static Result<std::unique_ptr<GrantPool>> map_runs(std::vector<uint64_t> ids, const MapRun& map,
                                                       const char* what);

    frontend::GuestMemory memory_;
    std::vector<uint32_t> refs_;
    std::vector<GrantRun> runs_;
    std::vector<Mapping> unused_;  // pages of short runs, granted until the pool goes
    unsigned calls_ = 0;
    uint32_t unused_pages_ = 0;
    size_t unused_runs_ = 0;       // runs of a guest's pages left unmapped
    bool ascending_ = true;        // every share call returned ascending consecutive refs
};

inline uint64_t grant_gpa(uint32_t ref) { return uint64_t{ref} << 12; }

}  // namespace xenvhost::grantfe
