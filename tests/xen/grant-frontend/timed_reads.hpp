#pragma once
// Reads in a loop for a fixed time, `depth` requests in flight, each request
// `len` bytes split into descriptors of `segment` bytes (0: one descriptor).

#include "base/error.hpp"
#include "frontend/blk_queue.hpp"

#include <cstdint>
#include <string>

namespace xenvhost::grantfe {

struct ReadLoop {
    uint32_t len = 4096;
    uint32_t segment = 0;
    unsigned depth = 1;
    double seconds = 5;
    uint64_t first_sector = 0;
    uint64_t sectors = 8192;  // the area read, cyclically
};

struct LoopResult {
    uint64_t requests = 0;
    double seconds = 0;
    double per_second() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
};

// Fails on the first request that does not complete OK; the first request's
// data is compared with the image.
Result<LoopResult> timed_reads(frontend::BlkQueue& blk, const ReadLoop& loop, const std::string& image);

}  // namespace xenvhost::grantfe
