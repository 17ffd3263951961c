#pragma once
// The front-end's IOMMU (VIRTIO_F_ACCESS_PLATFORM): the I/O virtual
// addresses a driver puts in SET_VRING_ADDR and in descriptors, each mapping
// a range of guest memory with a permission, as a guest's DMA mappings behind
// a vIOMMU do. IOVAs are handed out top-down from a high base, a guard page
// apart, so they are unrelated to guest-physical and user addresses and a
// back-end that confuses them reads the wrong memory or nothing at all.
// Translations reach the back-end as IOTLB UPDATEs: sent up front, or in
// answer to its MISS, then a 4 KiB IOMMU page at a time (as a vIOMMU answers)
// or the whole mapping.

#include "base/error.hpp"
#include "frontend/addressing.hpp"
#include "frontend/guest_memory.hpp"
#include "vhost_user/messages.hpp"

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace xenvhost::frontend {

namespace iommu_perm {
inline constexpr uint8_t kRead = 1;   // the device may read
inline constexpr uint8_t kWrite = 2;  // the device may write
inline constexpr uint8_t kReadWrite = 3;
}  // namespace iommu_perm

namespace iotlb_type {
inline constexpr uint8_t kMiss = 1;
inline constexpr uint8_t kUpdate = 2;
inline constexpr uint8_t kInvalidate = 3;
}  // namespace iotlb_type

inline constexpr uint64_t kIommuPage = 4096;

struct IommuMapping {
    uint64_t iova = 0;  // of the first byte; the guest address's page offset is kept
    uint64_t gpa = 0;
    uint64_t len = 0;
    uint8_t perm = 0;
    uint64_t first_page() const { return iova & ~(kIommuPage - 1); }
    uint64_t pages_len() const { return ((iova + len + kIommuPage - 1) & ~(kIommuPage - 1)) - first_page(); }
};

enum class MissAnswer {
    kPage,     // the 4 KiB IOMMU page holding the missed address
    kMapping,  // every page of the mapping holding it
};

class Iommu final : public DescriptorAddressing {
public:
    static constexpr uint64_t kDefaultIovaTop = 0x0000'7fe0'0000'0000;
    // Descriptors naming guest memory the IOMMU does not map get this
    // address (plus the guest address): nothing translates it.
    static constexpr uint64_t kUnmappedIova = 0x00de'ad00'0000'0000;

    explicit Iommu(const GuestMemory& mem, uint64_t iova_top = kDefaultIovaTop)
        : mem_(mem), next_top_(iova_top) {}

    // Maps whole IOMMU pages over [gpa, gpa+len); they must lie in one region.
    Result<IommuMapping> map(uint64_t gpa, uint64_t len, uint8_t perm);
    // Removes the mapping holding `iova`.
    Result<IommuMapping> unmap(uint64_t iova);
    // Points the mapping holding `iova` at other guest memory of the same
    // page offset: a guest that reprogrammed its IOMMU.
    Result<IommuMapping> remap(uint64_t iova, uint64_t gpa);

    std::optional<IommuMapping> find_iova(uint64_t iova) const;
    // The newest mapping holding `gpa`.
    std::optional<IommuMapping> find_gpa(uint64_t gpa) const;
    std::vector<IommuMapping> mappings() const;

    uint64_t descriptor_address(uint64_t gpa) const override;
    // A driver that keeps using an address after unmapping it: descriptors
    // of guest memory no mapping holds carry the IOVA it had last.
    void use_stale_addresses(bool on);

    // The UPDATE carrying every page of `m`.
    Result<vhost_user::IotlbMsg> update_of(const IommuMapping& m) const;
    // The UPDATE answering a miss at `iova`; nullopt when nothing maps it.
    std::optional<vhost_user::IotlbMsg> answer_miss(uint64_t iova, MissAnswer how) const;

private:
    std::optional<IommuMapping> find_iova_locked(uint64_t iova) const;
    Result<vhost_user::IotlbMsg> update_locked(const IommuMapping& m, uint64_t page, uint64_t pages) const;

    const GuestMemory& mem_;
    mutable std::mutex mutex_;
    std::vector<IommuMapping> mappings_;  // in mapping order
    std::vector<IommuMapping> unmapped_;  // in unmapping order
    bool stale_addresses_ = false;
    uint64_t next_top_;
};

}  // namespace xenvhost::frontend
