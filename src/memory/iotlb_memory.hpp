#pragma once
// Guest memory seen through the front-end's IOMMU: ring and buffer addresses
// are I/O virtual addresses, translated by the device IOTLB into front-end
// user addresses, then through the (mmap()ed) region table into ours.

#include "memory/guest_memory.hpp"
#include "memory/iotlb.hpp"
#include "memory/region_table.hpp"

namespace xenvhost::memory {

class IotlbMemory final : public GuestMemory {
public:
    IotlbMemory(RegionTable table, std::shared_ptr<Iotlb> iotlb)
        : table_(std::move(table)), iotlb_(std::move(iotlb)) {}

    std::string_view mode() const override { return "mmap"; }
    Result<RingMapping> map_ring(uint64_t iova, uint64_t len, bool writable) const override;
    bool read(uint64_t iova, std::span<uint8_t> dst) const override;
    Result<> map_buffers(std::span<const GuestBuffer> buffers, MappedBuffers& out) const override;

private:
    // Host bytes for the start of [iova, iova+len) with `perm`; may be short.
    Result<std::span<uint8_t>> translate(uint64_t iova, uint64_t len, uint8_t perm) const;

    RegionTable table_;
    std::shared_ptr<Iotlb> iotlb_;
};

}  // namespace xenvhost::memory
