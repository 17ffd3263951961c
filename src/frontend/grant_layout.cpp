#include "frontend/grant_layout.hpp"

#include "frontend/memory_table.hpp"

#include <algorithm>

namespace xenvhost::vhost_frontend {

namespace {

uint64_t page_down(uint64_t a) { return a & ~(kXenPageSize - 1); }
uint64_t page_up(uint64_t a) { return page_down(a + kXenPageSize - 1); }

// Each queue's rings as one page-aligned span, sorted and merged.
std::vector<GrantSpan> ring_spans(std::span<const transport::QueueConfig> queues, uint64_t end) {
    std::vector<GrantSpan> spans;
    for (const auto& q : queues) {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (const RingArea& a : ring_areas(q)) {
            lo = std::min(lo, a.addr);
            hi = std::max(hi, a.addr + a.len);
        }
        lo = page_down(lo);
        hi = std::min(page_up(hi), end);
        spans.push_back({lo, hi - lo, true});
    }
    std::sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) { return a.addr < b.addr; });
    std::vector<GrantSpan> merged;
    for (const auto& s : spans) {
        if (!merged.empty() && s.addr <= merged.back().addr + merged.back().len) {
            GrantSpan& m = merged.back();
            m.len = std::max(m.addr + m.len, s.addr + s.len) - m.addr;
        } else {
            merged.push_back(s);
        }
    }
    return merged;
}

// The gaps before, between and after the ring spans each cost a region.
size_t region_count(const std::vector<GrantSpan>& rings, uint64_t base, uint64_t end) {
    size_t n = rings.size();
    for (size_t i = 0; i <= rings.size(); ++i) {
        const uint64_t lo = i == 0 ? base : rings[i - 1].addr + rings[i - 1].len;
        const uint64_t hi = i == rings.size() ? end : rings[i].addr;
        n += hi > lo;
    }
    return n;
}

// Too many scattered queues for one table: the smallest gap joins the ring
// span(s) beside it, again until the table fits. A back-end finds rings only
// in regions it may map in advance, so a gap can become ring space but a
// ring can never become "no advance map" space.
void fit(std::vector<GrantSpan>& rings, uint64_t base, uint64_t end, size_t max_regions) {
    while (!rings.empty() && region_count(rings, base, end) > max_regions) {
        size_t best = 0;
        uint64_t best_len = UINT64_MAX;
        for (size_t i = 0; i <= rings.size(); ++i) {
            const uint64_t lo = i == 0 ? base : rings[i - 1].addr + rings[i - 1].len;
            const uint64_t hi = i == rings.size() ? end : rings[i].addr;
            if (hi > lo && hi - lo < best_len) best = i, best_len = hi - lo;
        }
        if (best == 0) {
            rings.front().len += rings.front().addr - base;
            rings.front().addr = base;
        } else if (best == rings.size()) {
            rings.back().len = end - rings.back().addr;
        } else {
            GrantSpan& left = rings[best - 1];
            left.len = rings[best].addr + rings[best].len - left.addr;
            rings.erase(rings.begin() + static_cast<std::ptrdiff_t>(best));
        }
    }
}

}  // namespace

std::vector<GrantSpan> grant_spans(std::span<const transport::QueueConfig> queues, uint64_t space,
                                   size_t max_regions) {
    const uint64_t end = kGrantSpaceBase + space;
    std::vector<GrantSpan> rings = ring_spans(queues, end);
    fit(rings, kGrantSpaceBase, end, max_regions);
    std::vector<GrantSpan> out;
    uint64_t cursor = kGrantSpaceBase;
    for (const GrantSpan& r : rings) {
        if (r.addr > cursor) out.push_back({cursor, r.addr - cursor, false});
        out.push_back(r);
        cursor = r.addr + r.len;
    }
    if (cursor < end) out.push_back({cursor, end - cursor, false});
    return out;
}

}  // namespace xenvhost::vhost_frontend
