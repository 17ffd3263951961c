#pragma once
// Split-ring inflight bookkeeping of the vhost-user specification
// (INFLIGHT_SHMFD): a shared area, kept by the front-end across back-end
// restarts, that records which heads were taken and in what order, so a
// restarted back-end resubmits what was in flight instead of losing it.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace xenvhost::virtio {

struct InflightDesc {
    uint8_t inflight;
    uint8_t padding[5];
    uint16_t next;
    uint64_t counter;
};
static_assert(sizeof(InflightDesc) == 16);

struct InflightQueueHeader {
    uint64_t features;
    uint16_t version;
    uint16_t desc_num;
    uint16_t last_batch_head;
    uint16_t used_idx;
};
static_assert(sizeof(InflightQueueHeader) == 16);

// Bytes one queue of `queue_size` entries occupies in the area (64-byte aligned).
size_t inflight_queue_stride(uint16_t queue_size);

class SplitInflight {
public:
    // `area` is this queue's part of the shared area, inflight_queue_stride(size) bytes.
    SplitInflight(uint8_t* area, uint16_t size) : area_(area), size_(size) {}

    // At ring start. A fresh area is initialised and nullopt returned;
    // otherwise the last batch is repaired against the ring's used index and
    // the heads still in flight are returned in the order they were taken.
    std::optional<std::vector<uint16_t>> recover(uint16_t ring_used_idx, uint64_t features);

    void taken(uint16_t head);                    // a head was popped from the avail ring
    void used(uint16_t head);                     // a head joins the batch being published
    void published(uint16_t ring_used_idx);       // the batch is visible to the driver

private:
    InflightQueueHeader* header() const { return reinterpret_cast<InflightQueueHeader*>(area_); }
    InflightDesc* desc() const { return reinterpret_cast<InflightDesc*>(area_ + sizeof(InflightQueueHeader)); }

    uint8_t* area_;
    uint16_t size_;
    uint64_t counter_ = 1;
    std::vector<uint16_t> batch_;
};

}  // namespace xenvhost::virtio

#include "base/mapping.hpp"

namespace xenvhost::virtio {

// The whole shared area as SET_INFLIGHT_FD delivered it: one stride per queue.
struct InflightArea {
    Mapping mapping;
    uint8_t* base = nullptr;
    uint16_t num_queues = 0;
    uint16_t queue_size = 0;

    // This queue's part, or nullptr if the area does not cover it. The
    // front-end sizes the area for its largest ring; a driver may choose a
    // smaller one, which fits in the same part.
    uint8_t* queue(uint16_t index, uint16_t ring_size) const {
        if (index >= num_queues || ring_size > queue_size) return nullptr;
        return base + inflight_queue_stride(queue_size) * index;
    }
};

}  // namespace xenvhost::virtio
