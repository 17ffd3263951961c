#include "memory/region_table.hpp"

#include <algorithm>

namespace xenvhost::memory {

Result<RegionTable> RegionTable::build(std::vector<std::shared_ptr<const Region>> regions) {
    if (regions.size() > kMaxRegions)
        return fail_as(ErrorKind::kProtocol, "{} regions, at most {} are supported", regions.size(), kMaxRegions);
    std::sort(regions.begin(), regions.end(),
              [](const auto& a, const auto& b) { return a->gpa() < b->gpa(); });
    for (size_t i = 1; i < regions.size(); ++i) {
        if (regions[i]->gpa() < regions[i - 1]->gpa_end())
            return fail_as(ErrorKind::kProtocol, "region at gpa {:#x} overlaps region at gpa {:#x}", regions[i]->gpa(),
                        regions[i - 1]->gpa());
    }
    // User addresses are used to translate ring addresses, so they must be
    // unambiguous too. Regions without one (no-advance Xen regions) are exempt.
    std::vector<const Region*> by_uaddr;
    for (const auto& r : regions)
        if (r->has_uaddr()) by_uaddr.push_back(r.get());
    std::sort(by_uaddr.begin(), by_uaddr.end(),
              [](const Region* a, const Region* b) { return a->uaddr() < b->uaddr(); });
    for (size_t i = 1; i < by_uaddr.size(); ++i) {
        if (by_uaddr[i]->uaddr() < by_uaddr[i - 1]->uaddr() + by_uaddr[i - 1]->size())
            return fail_as(ErrorKind::kProtocol, "region user address {:#x} overlaps user address {:#x}",
                        by_uaddr[i]->uaddr(), by_uaddr[i - 1]->uaddr());
    }
    return RegionTable(std::move(regions));
}

Result<RegionTable> RegionTable::with(std::shared_ptr<const Region> region) const {
    auto regions = regions_;
    regions.push_back(std::move(region));
    return build(std::move(regions));
}

Result<RegionTable> RegionTable::without(uint64_t gpa, uint64_t uaddr, uint64_t size) const {
    auto regions = regions_;
    auto it = std::find_if(regions.begin(), regions.end(), [&](const auto& r) {
        return r->gpa() == gpa && r->uaddr() == uaddr && r->size() == size;
    });
    if (it == regions.end())
        return fail_as(ErrorKind::kProtocol, "no region with gpa {:#x}, user address {:#x}, size {:#x}", gpa, uaddr, size);
    regions.erase(it);
    return RegionTable(std::move(regions));
}

const Region* RegionTable::find(uint64_t gpa) const {
    // First region whose start is > gpa; the candidate is the one before it.
    auto it = std::upper_bound(regions_.begin(), regions_.end(), gpa,
                               [](uint64_t a, const auto& r) { return a < r->gpa(); });
    if (it == regions_.begin()) return nullptr;
    const Region* r = std::prev(it)->get();
    return gpa < r->gpa_end() ? r : nullptr;
}

const Region* RegionTable::find_uaddr(uint64_t uaddr) const {
    // Few lookups (ring setup only), so a scan is enough.
    for (const auto& r : regions_) {
        if (r->has_uaddr() && uaddr >= r->uaddr() && uaddr - r->uaddr() < r->size()) return r.get();
    }
    return nullptr;
}

bool RegionTable::uaddr_to_gpa(uint64_t uaddr, uint64_t& gpa) const {
    const Region* r = find_uaddr(uaddr);
    if (!r) return false;
    gpa = r->gpa() + (uaddr - r->uaddr());
    return true;
}

std::span<uint8_t> RegionTable::translate(uint64_t gpa, uint64_t len) const {
    const Region* r = find(gpa);
    if (!r || !r->mapped()) return {};
    uint64_t offset = gpa - r->gpa();
    uint64_t n = std::min(len, r->size() - offset);
    return {r->host() + offset, static_cast<size_t>(n)};
}

}  // namespace xenvhost::memory
