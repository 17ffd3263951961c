#pragma once
// Grant mode's split of the grant space into regions: each queue's rings in
// one page-aligned span the back-end maps in advance (it finds rings through
// such regions), every gap between them a "no advance map" span (buffers are
// mapped per request). Linux lays a split ring out contiguously, so a queue
// costs one span; queues whose spans touch share one. One SET_MEM_TABLE
// holds 8 regions: with more queues scattered than that allows, the
// smallest gaps join the ring spans around them.

#include "transport/virtio_device.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace xenvhost::vhost_frontend {

struct GrantSpan {
    uint64_t addr = 0;  // in the grant space (bit 63 set)
    uint64_t len = 0;
    bool ring = false;  // holds rings: mapped in advance
};

// Covers [1<<63, 1<<63 + space) in order with at most `max_regions` spans
// (at least 1); rings must already be checked to lie inside it.
std::vector<GrantSpan> grant_spans(std::span<const transport::QueueConfig> queues, uint64_t space,
                                   size_t max_regions);

}  // namespace xenvhost::vhost_frontend
