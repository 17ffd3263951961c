#pragma once
// Guest memory whose regions were mmap()ed whole when they arrived (the
// QEMU/KVM fallback): translation is a table lookup, nothing is mapped per request.

#include "memory/guest_memory.hpp"
#include "memory/region_table.hpp"

namespace xenvhost::memory {

class PlainMemory final : public GuestMemory {
public:
    explicit PlainMemory(RegionTable table) : table_(std::move(table)) {}

    std::string_view mode() const override { return "mmap"; }
    Result<RingMapping> map_ring(uint64_t gpa, uint64_t len, bool writable) const override;
    bool read(uint64_t gpa, std::span<uint8_t> dst) const override;
    Result<> map_buffers(std::span<const GuestBuffer> buffers, MappedBuffers& out) const override;

    const RegionTable& table() const { return table_; }

private:
    RegionTable table_;
};

}  // namespace xenvhost::memory
