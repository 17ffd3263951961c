#pragma once
// A virtio-blk driver on one split queue: asynchronous submission of IN,
// OUT, FLUSH, GET_ID, DISCARD and WRITE_ZEROES with up to `depth` requests
// in flight (completion and the synchronous helpers: blk_driver.hpp). Each slot owns its header, status byte and data buffer in guest
// memory; a command may instead name its own data buffer (one that straddles
// two regions, or lives in a region added later).

#include "base/error.hpp"
#include "frontend/blk_driver.hpp"
#include "frontend/guest_memory.hpp"
#include "frontend/split_queue.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace xenvhost::frontend {

struct BlkQueueOptions {
    unsigned depth = 32;            // slots (requests in flight at most)
    uint32_t max_data = 128 * 1024; // per-slot data buffer
    uint32_t segment_size = 0;      // split data into descriptors of this size (0: one)
    bool indirect = false;          // put every chain in an indirect table
    std::optional<size_t> region;   // where slot buffers live
};

class BlkQueue final : public BlkDriver {
public:
    static Result<std::unique_ptr<BlkQueue>> create(GuestMemory& mem, SplitQueue& queue,
                                                    const BlkQueueOptions& opts);

    uint64_t slot_data_gpa(unsigned slot) const { return slots_.at(slot).data_gpa; }
    uint64_t slot_header_gpa(unsigned slot) const { return slots_.at(slot).hdr_gpa; }
    void set_indirect(bool on) { opts_.indirect = on; }
    void set_segment_size(uint32_t bytes) { opts_.segment_size = bytes; }

    Result<unsigned> submit(const BlkCommand& cmd) override;

    // Status-checked conveniences beside read/write/flush_cache.
    Result<std::vector<uint8_t>> get_id();
    Result<void> discard(uint64_t sector, uint32_t sectors);
    Result<void> write_zeroes(uint64_t sector, uint32_t sectors, bool unmap);

private:
    struct Slot {
        uint64_t hdr_gpa = 0;     // virtio_blk_outhdr
        uint64_t status_gpa = 0;  // 1 byte
        uint64_t seg_gpa = 0;     // discard/write-zeroes segments
        uint64_t data_gpa = 0;
    };
    BlkQueue(GuestMemory& mem, SplitQueue& queue, const BlkQueueOptions& opts)
        : BlkDriver(mem, queue, opts.depth), opts_(opts) {}

    BlkQueueOptions opts_;
    std::vector<Slot> slots_;
    static constexpr unsigned kMaxSegments = 16;
};

}  // namespace xenvhost::frontend
