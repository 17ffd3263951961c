#include "grant_pool.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace xenvhost::grantfe {

Result<std::unique_ptr<GrantPool>> GrantPool::share(xengntshr_handle* shr, uint32_t domid, uint32_t pages) {
    if (pages == 0) return fail("a grant pool needs at least one page");
    std::unique_ptr<GrantPool> pool(new GrantPool());
    pool->refs_.resize(pages);
    void* area = xengntshr_share_pages(shr, domid, static_cast<int>(pages), pool->refs_.data(), 1);
    if (!area) return fail_errno("xengntshr_share_pages({} pages to domid {})", pages, domid);
    // Until the regions own their pieces, the whole area is given back on error.
    SharedPages whole(shr, area, pages);

    // Page index of each run's first page, in page order: a run continues
    // while the next page has the next ref.
    struct Span {
        uint32_t first_page;
        uint32_t first_ref;
        uint32_t pages;
    };
    std::vector<Span> spans;
    for (uint32_t i = 0; i < pages; ++i) {
        const uint32_t ref = pool->refs_[i];
        if (!spans.empty() && spans.back().first_ref + spans.back().pages == ref &&
            spans.back().first_page + spans.back().pages == i)
            ++spans.back().pages;
        else
            spans.push_back({i, ref, 1});
    }
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.first_ref < b.first_ref; });

    std::vector<frontend::RegionLayout> layout;
    for (const auto& s : spans) {
        layout.push_back({grant_gpa(s.first_ref), uint64_t{s.pages} * kXenPageSize});
        pool->runs_.push_back({s.first_ref, s.pages});
    }
    auto mem = frontend::GuestMemory::create(layout);
    if (!mem) return std::unexpected(mem.error());
    pool->memory_ = std::move(*mem);

    // Each region's view becomes its piece of the granted area (replacing
    // the memfd GuestMemory made). The regions now own the area: munmap of
    // every piece is what xengntshr_unshare does on Linux, and gntalloc
    // releases the grants once the last piece is gone (and the grantee has
    // unmapped them).
    auto* base = static_cast<uint8_t*>(whole.release());
    for (size_t i = 0; i < spans.size(); ++i) {
        frontend::Region& r = pool->memory_.region(i);
        r.mapping = Mapping(base + uint64_t{spans[i].first_page} * kXenPageSize, r.size);
        r.fd.reset();
        r.mmap_offset = 0;
    }
    return pool;
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
    constexpr size_t kShown = 8;
    for (size_t i = 0; i < runs_.size() && i < kShown; ++i) {
        const auto& r = runs_[i];
        if (!list.empty()) list += ", ";
        list += r.pages == 1 ? fmt::format("{}", r.first_ref)
                             : fmt::format("{}..{}", r.first_ref, r.first_ref + r.pages - 1);
    }
    if (runs_.size() > kShown) list += fmt::format(", ... ({} more)", runs_.size() - kShown);
    const auto& big = runs_[largest_run()];
    return fmt::format("{} pages, refs {}..{} in {} run(s) of consecutive refs: {}; largest run {} pages", refs_.size(),
                       *std::min_element(refs_.begin(), refs_.end()), max_ref(), runs_.size(), list, big.pages);
}

}  // namespace xenvhost::grantfe
