#pragma once
// Mapping counters of one device, kept across connections; printed when the
// worker exits and published as status keys.

#include <atomic>
#include <cstdint>

namespace xenvhost::memory {

struct MapStats {
    std::atomic<uint64_t> map_calls{0};
    std::atomic<uint64_t> unmap_calls{0};
    std::atomic<uint64_t> pages_mapped{0};
    std::atomic<uint64_t> map_failures{0};
};

}  // namespace xenvhost::memory
