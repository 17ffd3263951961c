#pragma once
// What both virtio-blk drivers (BlkQueue, XenBlkQueue) share: slots and the
// requests in flight in them, collecting used elements, waiting for them on
// the call eventfd, and the synchronous helpers for tests. A driver lays its
// slots out and builds chains (submit()); completion is handled here once.

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

const char* blk_status_name(uint8_t status);

class BlkDriver {
public:
    virtual ~BlkDriver() = default;
    BlkDriver(const BlkDriver&) = delete;
    BlkDriver& operator=(const BlkDriver&) = delete;

    SplitQueue& queue() { return queue_; }
    unsigned depth() const { return static_cast<unsigned>(pending_.size()); }
    unsigned in_flight() const { return in_flight_; }
    bool full() const { return free_slots_.empty(); }

    // Queues a request (visible to the device only after flush()).
    virtual Result<unsigned> submit(const BlkCommand& cmd) = 0;
    // Publishes queued requests and kicks if the device wants it.
    void flush() { queue_.publish_and_kick(); }
    // Collects completions; waits up to `timeout_ms` for at least `min` of
    // them. Returns what arrived (maybe fewer than `min` on timeout).
    Result<std::vector<BlkCompletion>> poll(int timeout_ms, size_t min = 1);
    // Reads a completed request's data (valid until its slot is reused).
    Result<std::vector<uint8_t>> data(const BlkCompletion& c) const;

    // ---------------------------------------------- synchronous helpers
    // One request, flushed and waited for; `in` receives IN/GET_ID data.
    Result<BlkCompletion> run(const BlkCommand& cmd, std::vector<uint8_t>* in = nullptr, int timeout_ms = 10000);
    // Status-checked conveniences: fail unless the device answered OK.
    Result<std::vector<uint8_t>> read(uint64_t sector, uint32_t len);
    Result<void> write(uint64_t sector, std::span<const uint8_t> data);
    Result<void> flush_cache();

protected:
    BlkDriver(GuestMemory& mem, SplitQueue& queue, unsigned depth);
    // The slot the next request takes; fails when every slot is in flight.
    Result<unsigned> free_slot() const;
    // The request of free_slot() was added at `head`; its status byte lives
    // at `status_gpa`.
    void track(uint16_t head, const BlkCompletion& pending, uint64_t status_gpa);
    // Runs for each completed request (its slot already free) before it is
    // reported; an error stops the collection.
    virtual Result<void> completed(const BlkCompletion&) { return {}; }
    // One request of `what` that must have completed OK.
    Result<BlkCompletion> run_ok(const BlkCommand& cmd, const char* what, std::vector<uint8_t>* in = nullptr);

    GuestMemory& mem_;
    SplitQueue& queue_;

private:
    struct Pending {
        BlkCompletion completion;
        uint64_t status_gpa = 0;
    };
    Result<void> collect(std::vector<BlkCompletion>& out);

    std::vector<Pending> pending_;  // per slot
    std::vector<unsigned> free_slots_;
    std::vector<int> head_to_slot_;
    unsigned in_flight_ = 0;
};

}  // namespace xenvhost::frontend
