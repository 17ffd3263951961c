#pragma once
// A split virtqueue as the device side sees it: the three ring areas mapped
// long-lived, the avail index consumed, used elements published in batches,
// and notifications decided with or without EVENT_IDX.

#include "base/error.hpp"
#include "memory/guest_memory.hpp"

#include "virtio/ring_layout.hpp"

#include <cstdint>
#include <vector>

namespace xenvhost::virtio {

inline constexpr uint16_t kMaxQueueSize = 32768;

struct RingAddresses {  // guest addresses of the three areas
    uint64_t desc = 0;
    uint64_t avail = 0;
    uint64_t used = 0;
};

// Sizes of the areas of a ring of `size` entries (including the event-idx words).
uint64_t desc_area_size(uint16_t size);
uint64_t avail_area_size(uint16_t size);
uint64_t used_area_size(uint16_t size);
bool valid_queue_size(uint32_t size);

class SplitRing {
public:
    // Maps the areas through `mem` and checks their alignment (16/2/4).
    static Result<SplitRing> map(const memory::GuestMemory& mem, uint16_t size,
                                 const RingAddresses& addrs, bool event_idx, uint16_t last_avail);
    // Checks size and alignment only; attach() maps the areas later (on the
    // ring's own thread, when mapping may wait for the front-end).
    static Result<SplitRing> make(uint16_t size, const RingAddresses& addrs, bool event_idx,
                                  uint16_t last_avail);
    // Maps the areas and reads the used index the ring continues from.
    Result<> attach(const memory::GuestMemory& mem);
    bool attached() const { return used_ != nullptr; }

    uint16_t size() const { return size_; }
    const RingAddresses& addresses() const { return addrs_; }
    uint16_t last_avail() const { return last_avail_; }
    uint16_t used_idx() const { return used_idx_; }
    uint16_t published_used() const { return published_used_; }
    // The driver's avail index now (attached rings only).
    uint16_t avail_idx() const;
    const Desc* desc_table() const { return desc_; }

    // Number of heads the driver has made available and we have not taken.
    // Fails if the driver claims more than the ring holds (a corrupt or hostile index).
    Result<uint16_t> available() const;
    // Takes the next head; call only while available() > 0.
    uint16_t pop();
    // Where the next pop reads; set when inflight recovery accounts for heads
    // taken by an earlier back-end.
    void set_last_avail(uint16_t idx) { last_avail_ = idx; }

    // Queues a used element locally; publish() makes the batch visible.
    void push_used(uint16_t id, uint32_t len);
    // Publishes every queued used element with one index update. Returns
    // true if the driver asked to be notified about this batch.
    bool publish();
    bool has_unpublished() const { return used_idx_ != published_used_; }

    // With EVENT_IDX: asks for a kick for the next avail entry, then tells
    // whether entries arrived meanwhile (so no kick is lost).
    bool arm_kick();

    // Remaps the areas after the memory table changed.
    Result<> remap(const memory::GuestMemory& mem);
    // Drops the mappings (the memory went away); nothing more is published.
    void detach();

private:
    SplitRing() = default;
    uint16_t size_ = 0;
    bool event_idx_ = false;
    RingAddresses addrs_;
    memory::RingMapping desc_map_, avail_map_, used_map_;
    const Desc* desc_ = nullptr;
    Avail* avail_ = nullptr;
    Used* used_ = nullptr;
    uint16_t last_avail_ = 0;
    uint16_t used_idx_ = 0;        // next used slot (local shadow)
    uint16_t published_used_ = 0;  // what the driver has seen
};

}  // namespace xenvhost::virtio
