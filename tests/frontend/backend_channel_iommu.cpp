#include "frontend/backend_channel_iommu.hpp"

namespace xenvhost::frontend {

namespace vu = vhost_user;

namespace {
constexpr uint64_t page_of(uint64_t a) { return a & ~(kIommuPage - 1); }
constexpr uint64_t page_end(uint64_t a) { return (a + kIommuPage - 1) & ~(kIommuPage - 1); }
}  // namespace

Result<IommuMapping> Iommu::map(uint64_t gpa, uint64_t len, uint8_t perm) {
    if (len == 0 || gpa + len < gpa) return fail("IOMMU mapping of {:#x} bytes at {:#x} is invalid", len, gpa);
    if (perm == 0 || perm > iommu_perm::kReadWrite) return fail("IOMMU permission {} is invalid", perm);
    const uint64_t first = page_of(gpa), bytes = page_end(gpa + len) - first;
    // The pages must be contiguous in this process too: one region.
    if (!mem_.host(first, bytes))
        return fail("guest range {:#x}+{:#x} (pages {:#x}+{:#x}) is not inside one region", gpa, len, first, bytes);
    std::lock_guard lock(mutex_);
    if (next_top_ < bytes + 2 * kIommuPage) return fail("IOVA space exhausted");
    next_top_ -= bytes + kIommuPage;  // a guard page under every mapping
    IommuMapping m{next_top_ + (gpa - first), gpa, len, perm};
    mappings_.push_back(m);
    return m;
}

std::optional<IommuMapping> Iommu::find_iova_locked(uint64_t iova) const {
    for (const auto& m : mappings_)
        if (iova >= m.first_page() && iova - m.first_page() < m.pages_len()) return m;
    return std::nullopt;
}

std::optional<IommuMapping> Iommu::find_iova(uint64_t iova) const {
    std::lock_guard lock(mutex_);
    return find_iova_locked(iova);
}

std::optional<IommuMapping> Iommu::find_gpa(uint64_t gpa) const {
    std::lock_guard lock(mutex_);
    for (auto it = mappings_.rbegin(); it != mappings_.rend(); ++it)
        if (gpa >= it->gpa && gpa - it->gpa < it->len) return *it;
    return std::nullopt;
}

std::vector<IommuMapping> Iommu::mappings() const {
    std::lock_guard lock(mutex_);
    return mappings_;
}

Result<IommuMapping> Iommu::unmap(uint64_t iova) {
    std::lock_guard lock(mutex_);
    for (auto it = mappings_.begin(); it != mappings_.end(); ++it) {
        if (iova < it->first_page() || iova - it->first_page() >= it->pages_len()) continue;
        IommuMapping m = *it;
        mappings_.erase(it);
        unmapped_.push_back(m);
        return m;
    }
    return fail("no IOMMU mapping holds IOVA {:#x}", iova);
}

Result<IommuMapping> Iommu::remap(uint64_t iova, uint64_t gpa) {
    std::lock_guard lock(mutex_);
    for (auto& m : mappings_) {
        if (iova < m.first_page() || iova - m.first_page() >= m.pages_len()) continue;
        if ((gpa & (kIommuPage - 1)) != (m.gpa & (kIommuPage - 1)))
            return fail("guest address {:#x} has another page offset than {:#x}", gpa, m.gpa);
        if (!mem_.host(page_of(gpa), m.pages_len()))
            return fail("guest range at {:#x} is not inside one region", gpa);
        m.gpa = gpa;
        return m;
    }
    return fail("no IOMMU mapping holds IOVA {:#x}", iova);
}

uint64_t Iommu::descriptor_address(uint64_t gpa) const {
    if (auto m = find_gpa(gpa)) return m->iova + (gpa - m->gpa);
    std::lock_guard lock(mutex_);
    if (stale_addresses_)
        for (auto it = unmapped_.rbegin(); it != unmapped_.rend(); ++it)
            if (gpa >= it->gpa && gpa - it->gpa < it->len) return it->iova + (gpa - it->gpa);
    return kUnmappedIova + gpa;
}

void Iommu::use_stale_addresses(bool on) {
    std::lock_guard lock(mutex_);
    stale_addresses_ = on;
}

Result<vu::IotlbMsg> Iommu::update_locked(const IommuMapping& m, uint64_t page, uint64_t pages) const {
    auto uaddr = mem_.user_addr(page_of(m.gpa) + (page - m.first_page()));
    if (!uaddr) return fail("guest address {:#x} has no user address", m.gpa);
    vu::IotlbMsg u{};
    u.iova = page;
    u.size = pages * kIommuPage;
    u.uaddr = *uaddr;
    u.perm = m.perm;
    u.type = iotlb_type::kUpdate;
    return u;
}

Result<vu::IotlbMsg> Iommu::update_of(const IommuMapping& m) const {
    std::lock_guard lock(mutex_);
    return update_locked(m, m.first_page(), m.pages_len() / kIommuPage);
}

std::optional<vu::IotlbMsg> Iommu::answer_miss(uint64_t iova, MissAnswer how) const {
    std::lock_guard lock(mutex_);
    auto m = find_iova_locked(iova);
    if (!m) return std::nullopt;
    auto u = how == MissAnswer::kPage ? update_locked(*m, page_of(iova), 1)
                                      : update_locked(*m, m->first_page(), m->pages_len() / kIommuPage);
    if (!u) return std::nullopt;
    return *u;
}

}  // namespace xenvhost::frontend
