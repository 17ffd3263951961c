#pragma once
// A virtio-blk driver on one split queue: asynchronous submission of IN,
// OUT, FLUSH, GET_ID, DISCARD and WRITE_ZEROES with up to `depth` requests
// in flight, completion polling on the call eventfd, and synchronous helpers
// for tests. Each slot owns its header, status byte and data buffer in guest
// memory; a command may instead name its own data buffer (one that straddles
// two regions, or lives in a region added later).

#include "base/error.hpp"
#include "frontend/guest_memory.hpp"
#include "frontend/split_queue.hpp"

#include <linux/virtio_blk.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace xenvhost::frontend {

inline constexpr uint32_t kSectorSize = 512;
inline constexpr uint8_t kStatusUnwritten = 0xff;  // what the driver stores before submitting

struct BlkQueueOptions {
    unsigned depth = 32;            // slots (requests in flight at most)
    uint32_t max_data = 128 * 1024; // per-slot data buffer
    uint32_t segment_size = 0;      // split data into descriptors of this size (0: one)
    bool indirect = false;          // put every chain in an indirect table
    std::optional<size_t> region;   // where slot buffers live
};

struct BlkCommand {
    uint32_t type = VIRTIO_BLK_T_IN;
    uint32_t ioprio = 0;
    uint64_t sector = 0;
    // IN / GET_ID: bytes the device writes. OUT: bytes to send.
    uint32_t data_len = 0;
    // OUT: copied into the data buffer when non-empty (otherwise the buffer
    // is sent as it is, which the load generator uses).
    std::span<const uint8_t> out_data;
    // DISCARD / WRITE_ZEROES segments.
    std::vector<virtio_blk_discard_write_zeroes> segments;
    // Use this data buffer instead of the slot's.
    std::optional<uint64_t> data_gpa;
    uint64_t tag = 0;  // returned in the completion

    static BlkCommand in(uint64_t sector, uint32_t len);
    static BlkCommand out(uint64_t sector, std::span<const uint8_t> data);
    static BlkCommand flush();
    static BlkCommand get_id(uint32_t len = VIRTIO_BLK_ID_BYTES);
    static BlkCommand discard(uint64_t sector, uint32_t sectors, uint32_t flags = 0);
    static BlkCommand write_zeroes(uint64_t sector, uint32_t sectors, bool unmap);
};

struct BlkCompletion {
    unsigned slot = 0;
    uint64_t tag = 0;
    uint8_t status = kStatusUnwritten;
    uint32_t used_len = 0;
    uint32_t type = 0;
    uint64_t data_gpa = 0;
    uint32_t data_len = 0;
};

class BlkQueue {
public:
    static Result<std::unique_ptr<BlkQueue>> create(GuestMemory& mem, SplitQueue& queue,
                                                    const BlkQueueOptions& opts);

    SplitQueue& queue() { return queue_; }
    unsigned depth() const { return static_cast<unsigned>(slots_.size()); }
    unsigned in_flight() const { return in_flight_; }
    bool full() const { return free_slots_.empty(); }
    uint64_t slot_data_gpa(unsigned slot) const { return slots_.at(slot).data_gpa; }
    uint64_t slot_header_gpa(unsigned slot) const { return slots_.at(slot).hdr_gpa; }
    void set_indirect(bool on) { opts_.indirect = on; }
    void set_segment_size(uint32_t bytes) { opts_.segment_size = bytes; }

    // Queues a request (visible to the device only after flush()).
    Result<unsigned> submit(const BlkCommand& cmd);
    // Publishes queued requests and kicks if the device wants it.
    void flush() { queue_.publish_and_kick(); }
    // Collects completions; waits up to `timeout_ms` for at least `min` of
    // them. Returns what arrived (maybe fewer than `min` on timeout).
    Result<std::vector<BlkCompletion>> poll(int timeout_ms, size_t min = 1);
    // Reads a completed request's data (valid until its slot is reused).
    Result<std::vector<uint8_t>> data(const BlkCompletion& c) const;

    // ---------------------------------------------- synchronous helpers
    // One request, flushed and waited for; `in` receives IN/GET_ID data.
    Result<BlkCompletion> run(const BlkCommand& cmd, std::vector<uint8_t>* in = nullptr,
                              int timeout_ms = 10000);
    // Status-checked conveniences: fail unless the device answered OK.
    Result<std::vector<uint8_t>> read(uint64_t sector, uint32_t len);
    Result<void> write(uint64_t sector, std::span<const uint8_t> data);
    Result<void> flush_cache();
    Result<std::vector<uint8_t>> get_id();
    Result<void> discard(uint64_t sector, uint32_t sectors);
    Result<void> write_zeroes(uint64_t sector, uint32_t sectors, bool unmap);

private:
    struct Slot {
        uint64_t hdr_gpa = 0;     // virtio_blk_outhdr
        uint64_t status_gpa = 0;  // 1 byte
        uint64_t seg_gpa = 0;     // discard/write-zeroes segments
        uint64_t data_gpa = 0;
        bool busy = false;
        uint16_t head = 0;
        BlkCompletion pending;
    };
    BlkQueue(GuestMemory& mem, SplitQueue& queue, const BlkQueueOptions& opts)
        : mem_(mem), queue_(queue), opts_(opts) {}
    Result<void> collect(std::vector<BlkCompletion>& out);

    GuestMemory& mem_;
    SplitQueue& queue_;
    BlkQueueOptions opts_;
    std::vector<Slot> slots_;
    std::vector<unsigned> free_slots_;
    std::vector<int> head_to_slot_;
    unsigned in_flight_ = 0;
    static constexpr unsigned kMaxSegments = 16;
};

const char* blk_status_name(uint8_t status);

}  // namespace xenvhost::frontend
