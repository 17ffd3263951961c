#pragma once
// The cost of mapping one read request's buffers through gntdev, measured
// directly with libxengnttab, two ways:
//   batched     what the worker does: one map per access direction (the
//               header read-only; data and status writable), every page
//               touched, both unmapped;
//   per access  what rust-vmm's vm-memory does for "no advance map" regions:
//               map one buffer, touch it, unmap it, for every buffer of the
//               request (header, each data segment, status).

#include "base/error.hpp"
#include "xen_libs.hpp"

#include <cstdint>
#include <span>

namespace xenvhost::grantfe {

struct RequestShape {
    uint32_t domid = 0;
    uint32_t header_ref = 0;
    std::span<const uint32_t> data_refs;  // one 4 KiB segment per ref
    uint32_t status_ref = 0;
};

struct MapCost {
    double batched_us = 0;     // per request (median of the chunks)
    unsigned batched_maps = 0;
    unsigned batched_rounds = 0;
    double per_access_us = 0;  // per request
    unsigned per_access_maps = 0;
    unsigned per_access_rounds = 0;
};

// Runs the two ways interleaved for about 2 x `seconds` in all.
Result<MapCost> measure_map_cost(xengnttab_handle* tab, const RequestShape& shape, double seconds);

}  // namespace xenvhost::grantfe
