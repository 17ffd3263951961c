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

}  // namespace

std::vector<GrantSpan> grant_spans(std::span<const transport::QueueConfig> queues, uint64_t space) {
    const uint64_t end = kGrantSpaceBase + space;
    std::vector<GrantSpan> out;
    uint64_t cursor = kGrantSpaceBase;
    for (const GrantSpan& r : ring_spans(queues, end)) {
        if (r.addr > cursor) out.push_back({cursor, r.addr - cursor, false});
        out.push_back(r);
        cursor = r.addr + r.len;
    }
    if (cursor < end) out.push_back({cursor, end - cursor, false});
    return out;
}

}  // namespace xenvhost::vhost_frontend
