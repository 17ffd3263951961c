#include "virtio/inflight.hpp"

#include <algorithm>
#include <cstring>

namespace xenvhost::virtio {

size_t inflight_queue_stride(uint16_t queue_size) {
    size_t bytes = sizeof(InflightQueueHeader) + sizeof(InflightDesc) * queue_size;
    return (bytes + 63) & ~size_t{63};
}

std::optional<std::vector<uint16_t>> SplitInflight::recover(uint16_t ring_used_idx, uint64_t features) {
    InflightQueueHeader* h = header();
    InflightDesc* d = desc();
    if (h->version != 1 || h->desc_num != size_) {
        // Fresh (or of another ring size): nothing can be trusted; start clean.
        std::memset(area_, 0, inflight_queue_stride(size_));
        h->version = 1;
        h->desc_num = size_;
        h->features = features;
        h->used_idx = ring_used_idx;
        h->last_batch_head = 0;
        counter_ = 1;
        return std::nullopt;
    }
    // A batch was published but not yet cleared when the back-end died.
    if (h->used_idx != ring_used_idx) {
        uint16_t batch = static_cast<uint16_t>(ring_used_idx - h->used_idx);
        uint16_t i = h->last_batch_head;
        for (uint16_t n = 0; n < batch && i < size_; ++n) {
            d[i].inflight = 0;
            i = d[i].next;
        }
        h->used_idx = ring_used_idx;
    }
    std::vector<std::pair<uint64_t, uint16_t>> pending;
    uint64_t max_counter = 0;
    for (uint16_t i = 0; i < size_; ++i) {
        if (d[i].inflight == 1) pending.emplace_back(d[i].counter, i);
        else d[i].inflight = 0;  // anything but 1 is garbage from a bad area
        max_counter = std::max(max_counter, d[i].counter);
    }
    std::sort(pending.begin(), pending.end());
    counter_ = max_counter + 1;
    std::vector<uint16_t> heads;
    for (const auto& p : pending) heads.push_back(p.second);
    return heads;
}

void SplitInflight::taken(uint16_t head) {
    if (head >= size_) return;
    desc()[head].counter = counter_++;
    desc()[head].inflight = 1;
}

void SplitInflight::used(uint16_t head) {
    if (head >= size_) return;
    desc()[head].next = header()->last_batch_head;
    header()->last_batch_head = head;
    batch_.push_back(head);
}

void SplitInflight::published(uint16_t ring_used_idx) {
    for (uint16_t head : batch_) desc()[head].inflight = 0;
    batch_.clear();
    header()->used_idx = ring_used_idx;
}

}  // namespace xenvhost::virtio
