#pragma once
// Mapping and grant copy counters of one device, kept across connections;
// printed when the worker exits and published as status keys.

#include <atomic>
#include <cstdint>

namespace xenvhost::memory {

struct MapStats {
    std::atomic<uint64_t> map_calls{0};
    std::atomic<uint64_t> unmap_calls{0};
    std::atomic<uint64_t> pages_mapped{0};
    std::atomic<uint64_t> map_failures{0};
    std::atomic<uint64_t> copy_calls{0};     // gntdev copy calls (one per request direction)
    std::atomic<uint64_t> copy_segments{0};  // segments in them (at most a page each)
    std::atomic<uint64_t> copy_failures{0};  // calls with a failed segment, or that failed whole
};

}  // namespace xenvhost::memory
