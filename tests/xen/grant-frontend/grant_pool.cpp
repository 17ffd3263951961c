#include "grant_pool.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include <sys/mman.h>

namespace xenvhost::grantfe {

namespace {

// A run of ascending consecutive refs on adjacent pages of one shared area.
struct Piece {
    uint8_t* host;
    uint32_t first_ref;
    uint32_t pages;
};

void find_runs(uint8_t* area, const std::vector<uint32_t>& refs, std::vector<Piece>& out) {
    for (uint32_t i = 0; i < refs.size(); ++i) {
        if (i > 0 && out.back().first_ref + out.back().pages == refs[i])
            ++out.back().pages;
        else
            out.push_back({area + uint64_t{i} * kXenPageSize, refs[i], 1});
    }
}

}  // namespace

Result<std::unique_ptr<GrantPool>> GrantPool::share(xengntshr_handle* shr, uint32_t domid, uint32_t pages) {
    if (pages == 0 || pages > kGrantBudgetPages)
        return fail("a grant pool needs 1..{} pages, not {}", kGrantBudgetPages, pages);
    std::unique_ptr<GrantPool> pool(new GrantPool());
    // Until the regions own their pieces, whole areas are given back on error.
    std::vector<SharedPages> areas;
    std::vector<Piece> pieces;
    uint64_t usable = 0;
    while (usable < pages && (areas.size() + 1) * pages <= kGrantBudgetPages) {
        std::vector<uint32_t> refs(pages);
        void* area = xengntshr_share_pages(shr, domid, static_cast<int>(pages), refs.data(), 1);
        if (!area) return fail_errno("xengntshr_share_pages({} pages to domid {})", pages, domid);
        areas.emplace_back(shr, area, pages);
        const size_t before = pieces.size();
        find_runs(areas.back().data(), refs, pieces);
        if (pieces.size() - before != 1) pool->ascending_ = false;
        for (size_t i = before; i < pieces.size(); ++i)
            if (pieces[i].pages >= kMinRunPages) usable += pieces[i].pages;
        pool->refs_.insert(pool->refs_.end(), refs.begin(), refs.end());
    }
    pool->calls_ = static_cast<unsigned>(areas.size());
    if (usable < pages)
        return fail("{} share calls of {} pages left only {} pages in runs of {} or more consecutive refs",
                    areas.size(), pages, usable, kMinRunPages);

    std::sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) { return a.first_ref < b.first_ref; });
    std::vector<Piece> used;
    std::vector<frontend::RegionLayout> layout;
    for (const auto& p : pieces) {
        if (p.pages < kMinRunPages) continue;
        used.push_back(p);
        layout.push_back({grant_gpa(p.first_ref), uint64_t{p.pages} * kXenPageSize});
        pool->runs_.push_back({p.first_ref, p.pages});
    }
    auto mem = frontend::GuestMemory::create(layout);
    if (!mem) return std::unexpected(mem.error());
    pool->memory_ = std::move(*mem);

    // The shared areas are handed out piece by piece: each region's view
    // becomes its piece (replacing the memfd GuestMemory made), short runs go
    // to unused_. munmap of every piece is what xengntshr_unshare does on
    // Linux; gntalloc ends the grants once the last piece of an area is gone
    // (and nobody maps them any more).
    for (auto& a : areas) (void)a.release();
    for (size_t i = 0; i < used.size(); ++i) {
        frontend::Region& r = pool->memory_.region(i);
        r.mapping = Mapping(used[i].host, r.size);
        r.fd.reset();
        r.mmap_offset = 0;
    }
    for (const auto& p : pieces) {
        if (p.pages >= kMinRunPages) continue;
        pool->unused_.emplace_back(p.host, uint64_t{p.pages} * kXenPageSize);
        pool->unused_pages_ += p.pages;
    }
    return pool;
}

Result<std::unique_ptr<GrantPool>> GrantPool::map_runs(std::vector<uint64_t> ids, const MapRun& map,
                                                      const char* what) {
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (ids.empty() || ids.back() > UINT32_MAX) return fail("{}: no {} or one past 32 bits", what, what);
    std::unique_ptr<GrantPool> pool(new GrantPool());
    // Runs of consecutive numbers; the longest kMaxRegions of them are used
    // (one SET_MEM_TABLE carries at most 8 regions), in ascending order.
    std::vector<GrantRun> runs;
    for (size_t i = 0; i < ids.size();) {
        size_t j = i;
        while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
        runs.push_back({static_cast<uint32_t>(ids[i]), static_cast<uint32_t>(j - i + 1)});
        i = j + 1;
    }
    pool->refs_.assign(ids.begin(), ids.end());
    std::stable_sort(runs.begin(), runs.end(), [](const GrantRun& a, const GrantRun& b) { return a.pages > b.pages; });
    size_t keep = 0;
    while (keep < runs.size() && keep < kMaxRegions && runs[keep].pages >= kMinRunPages) ++keep;
    for (size_t k = keep; k < runs.size(); ++k) {
        pool->unused_pages_ += runs[k].pages;
        ++pool->unused_runs_;
    }
    runs.resize(keep);
    std::sort(runs.begin(), runs.end(), [](const GrantRun& a, const GrantRun& b) { return a.first_ref < b.first_ref; });
    std::vector<frontend::RegionLayout> layout;
    std::vector<Mapping> views;
    for (const auto& run : runs) {
        auto host = map(run.first_ref, run.pages);
        if (!host) return fail("{} {}..{}: {}", what, run.first_ref, run.first_ref + run.pages - 1, host.error().message);
        ++pool->calls_;
        // munmap is how both libraries unmap on Linux.
        views.emplace_back(*host, uint64_t{run.pages} * kXenPageSize);
        layout.push_back({grant_gpa(run.first_ref), uint64_t{run.pages} * kXenPageSize});
        pool->runs_.push_back(run);
    }
    if (layout.empty()) return fail("no run of {} or more consecutive {} among {}", kMinRunPages, what, ids.size());
    auto mem = frontend::GuestMemory::create(layout);
    if (!mem) return std::unexpected(mem.error());
    pool->memory_ = std::move(*mem);
    for (size_t k = 0; k < views.size(); ++k) {
        frontend::Region& r = pool->memory_.region(k);
        r.mapping = std::move(views[k]);
        r.fd.reset();
        r.mmap_offset = 0;
    }
    return pool;
}

Result<std::unique_ptr<GrantPool>> GrantPool::map_guest_grants(xengnttab_handle* tab, uint32_t domid,
                                                               const std::vector<uint64_t>& refs) {
    return map_runs(refs, [&](uint64_t first, uint32_t pages) -> Result<void*> {
        std::vector<uint32_t> run(pages);
        for (uint32_t k = 0; k < pages; ++k) run[k] = static_cast<uint32_t>(first + k);
        void* p = xengnttab_map_domain_grant_refs(tab, pages, domid, run.data(), PROT_READ | PROT_WRITE);
        if (!p) return fail_errno("xengnttab_map_domain_grant_refs(domain {})", domid);
        return p;
    }, "grant refs");
}

Result<std::unique_ptr<GrantPool>> GrantPool::map_guest_frames(xenforeignmemory_handle* fm, uint32_t domid,
                                                               const std::vector<uint64_t>& frames) {
    return map_runs(frames, [&](uint64_t first, uint32_t pages) -> Result<void*> {
        std::vector<xen_pfn_t> run(pages);
        std::vector<int> err(pages, 0);
        for (uint32_t k = 0; k < pages; ++k) run[k] = first + k;
        void* p = xenforeignmemory_map(fm, domid, PROT_READ | PROT_WRITE, pages, run.data(), err.data());
        if (!p) return fail_errno("xenforeignmemory_map(domain {})", domid);
        for (uint32_t k = 0; k < pages; ++k)
            if (err[k]) {
                xenforeignmemory_unmap(fm, p, pages);
                return fail("frame {:#x}: error {}", first + k, err[k]);
            }
        return p;
    }, "machine frames");
}

size_t GrantPool::largest_run() const {
    size_t best = 0;
    for (size_t i = 1; i < runs_.size(); ++i)
        if (runs_[i].pages > runs_[best].pages) best = i;
    return best;
}

uint32_t GrantPool::max_ref() const { return *std::max_element(refs_.begin(), refs_.end()); }

bool GrantPool::contains(uint32_t ref) const { return std::find(refs_.begin(), refs_.end(), ref) != refs_.end(); }

std::string GrantPool::describe() const {
    std::string list;
    constexpr size_t kShown = 6;
    for (size_t i = 0; i < runs_.size() && i < kShown; ++i) {
        if (!list.empty()) list += ", ";
        list += fmt::format("{}..{}", runs_[i].first_ref, runs_[i].first_ref + runs_[i].pages - 1);
    }
    if (runs_.size() > kShown) list += fmt::format(", ... ({} more)", runs_.size() - kShown);
    std::string out = fmt::format("{} pages in {} call(s), numbers {}..{}{}; in use: {} run(s) of consecutive numbers ({})",
                                  refs_.size(), calls_, *std::min_element(refs_.begin(), refs_.end()), max_ref(),
                                  ascending_ ? ", all ascending and consecutive" : "", runs_.size(), list);
    if (unused_pages_)
        out += fmt::format("; {} page(s) in {} shorter run(s) left unused", unused_pages_,
                           unused_.size() + unused_runs_);
    return out;
}

}  // namespace xenvhost::grantfe
