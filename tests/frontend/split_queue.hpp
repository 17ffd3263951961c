#pragma once
// The driver side of a split virtqueue living in guest memory: descriptor
// table, avail ring and used ring, a kick eventfd (driver → device) and a
// call eventfd (device → driver). Supports chains of any length, indirect
// descriptor tables and EVENT_IDX notification suppression in both
// directions. Raw accessors let hostile tests write what a broken or
// malicious guest would.

#include "base/error.hpp"
#include "base/eventfd.hpp"
#include "base/unique_fd.hpp"
#include "frontend/addressing.hpp"
#include "frontend/guest_memory.hpp"
#include "vhost_user/messages.hpp"

#include "frontend/virtio_ring.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace xenvhost::frontend {

struct QueueOptions {
    uint16_t size = 128;          // a power of two, at most 32768
    bool event_idx = false;       // VIRTIO_RING_F_EVENT_IDX negotiated
    uint16_t indirect_max = 0;    // entries per indirect table; 0 = no indirect tables
    std::optional<size_t> region; // where to put the rings (default: first with room)
};

// One buffer of a chain, by guest-physical address.
struct Buffer {
    uint64_t gpa = 0;
    uint32_t len = 0;
    bool device_writes = false;  // VRING_DESC_F_WRITE
};

struct UsedElem {
    uint16_t id = 0;   // head descriptor index
    uint32_t len = 0;  // bytes the device wrote
};

class SplitQueue {
public:
    static Result<std::unique_ptr<SplitQueue>> create(GuestMemory& mem, uint16_t index,
                                                      const QueueOptions& opts,
                                                      const DescriptorAddressing* addressing);

    uint16_t index() const { return index_; }
    uint16_t size() const { return size_; }
    bool event_idx() const { return event_idx_; }
    uint64_t desc_gpa() const { return desc_gpa_; }
    uint64_t avail_gpa() const { return avail_gpa_; }
    uint64_t used_gpa() const { return used_gpa_; }
    int kick_fd() const { return kick_.get(); }
    int call_fd() const { return call_.get(); }
    // SET_VRING_ADDR payload with user addresses, as QEMU sends it.
    Result<vhost_user::VringAddr> vring_addr() const;

    unsigned free_descriptors() const { return free_count_; }
    unsigned in_flight() const { return in_flight_; }

    // Writes a chain (direct, or through an indirect table when `indirect`)
    // and places its head in the avail ring. Not visible to the device
    // until publish().
    Result<uint16_t> add(std::span<const Buffer> chain, bool indirect = false);
    // Makes added chains visible (release store of avail->idx).
    void publish();
    // Whether the device asked for a kick for what was published since the
    // last kick (avail_event with EVENT_IDX, else VRING_USED_F_NO_NOTIFY).
    bool kick_needed();
    void kick();
    // publish() + kick if needed; returns whether it kicked.
    bool publish_and_kick();

    // Next used element, if any. Fails if the device returns an id that is
    // not an in-flight head or a length larger than the chain's writable bytes.
    Result<std::optional<UsedElem>> pop_used();
    // Asks for a call on the next used element (used_event, or clearing
    // VRING_AVAIL_F_NO_INTERRUPT); returns false if one is already there.
    bool arm_interrupt();
    // Suppresses calls (flag, or used_event pushed out of reach).
    void suppress_interrupts();
    // Waits until the call eventfd fires; false on timeout. Drains it.
    Result<bool> wait_call(int timeout_ms);
    // Waits for the next used element (calls may be spurious; the used ring
    // decides). nullopt on timeout.
    Result<std::optional<UsedElem>> wait_used(int timeout_ms);
    // Reads and clears the call eventfd without blocking.
    bool drain_call();

    // Ring state.
    uint16_t avail_idx() const { return avail_idx_; }
    uint16_t last_used_idx() const { return last_used_; }
    uint16_t used_idx() const;        // device's used->idx
    uint16_t avail_event() const;     // device's avail_event (EVENT_IDX)

    // Before the ring is started: makes the free-running indices start at
    // `idx` (avail->idx and used->idx in guest memory too); SET_VRING_BASE
    // must then send `idx`.
    void reset_indices(uint16_t idx);

    // After GET_VRING_BASE returned `base` and everything in flight was
    // completed: the driver's view stays as is, the device will resume from
    // `base` once SET_VRING_BASE sends it.
    bool quiescent() const { return in_flight_ == 0; }

    // ------------------------------------------------------- raw (hostile)
    vring_desc* desc_table() { return desc_; }
    // Writes `head` into the next avail slot without any bookkeeping.
    void raw_push_avail(uint16_t head);
    // Stores avail->idx as given (may jump ahead of what was written).
    void raw_set_avail_idx(uint16_t idx);
    // Takes descriptors out of the free list for hand-written chains.
    Result<std::vector<uint16_t>> raw_take_descriptors(unsigned count);
    // Puts a hand-written chain in the avail ring and tracks it as in
    // flight: `head` must be the first id raw_take_descriptors() returned
    // and `count` how many it returned; `writable` bounds the used length.
    void raw_submit(uint16_t head, uint16_t count, uint32_t writable);
    // Guest address of scratch space for hand-made tables and buffers.
    uint64_t scratch_gpa() const { return scratch_gpa_; }
    uint32_t scratch_size() const { return scratch_size_; }

private:
    SplitQueue(GuestMemory& mem, uint16_t index, uint16_t size, bool event_idx,
               const DescriptorAddressing* addressing)
        : mem_(mem), index_(index), size_(size), event_idx_(event_idx), addressing_(addressing) {}

    uint16_t* avail_flags() const { return reinterpret_cast<uint16_t*>(avail_); }
    uint16_t* avail_idx_ptr() const { return reinterpret_cast<uint16_t*>(avail_) + 1; }
    uint16_t* avail_ring() const { return reinterpret_cast<uint16_t*>(avail_) + 2; }
    uint16_t* used_event_ptr() const { return avail_ring() + size_; }
    uint16_t* used_flags() const { return reinterpret_cast<uint16_t*>(used_); }
    uint16_t* used_idx_ptr() const { return reinterpret_cast<uint16_t*>(used_) + 1; }
    vring_used_elem* used_ring() const {
        return reinterpret_cast<vring_used_elem*>(used_ + 4);
    }
    uint16_t* avail_event_ptr() const { return reinterpret_cast<uint16_t*>(used_ring() + size_); }
    void free_chain(uint16_t head);

    GuestMemory& mem_;
    uint16_t index_;
    uint16_t size_;
    bool event_idx_;
    const DescriptorAddressing* addressing_;
    uint16_t indirect_max_ = 0;

    uint64_t desc_gpa_ = 0, avail_gpa_ = 0, used_gpa_ = 0, indirect_gpa_ = 0;
    uint64_t scratch_gpa_ = 0;
    uint32_t scratch_size_ = 0;
    vring_desc* desc_ = nullptr;
    uint8_t* avail_ = nullptr;
    uint8_t* used_ = nullptr;
    UniqueFd kick_, call_;

    // Driver-private shadow state, never read back from guest memory: the
    // links of the free list and of every in-flight chain.
    std::vector<uint16_t> next_;
    std::vector<uint16_t> chain_len_;    // descriptors used by a head (0 = not in flight)
    std::vector<uint32_t> chain_write_;  // writable bytes of a head's chain
    uint16_t free_head_ = 0;
    unsigned free_count_ = 0;
    unsigned in_flight_ = 0;
    uint16_t avail_idx_ = 0;       // next avail slot (driver)
    uint16_t published_idx_ = 0;   // what avail->idx holds
    uint16_t kicked_idx_ = 0;      // avail idx at the last kick decision
    uint16_t last_used_ = 0;
};

}  // namespace xenvhost::frontend
