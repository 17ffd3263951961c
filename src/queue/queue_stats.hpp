#pragma once
// Counters of one device, shared by its queues and read by status queries.

#include <atomic>
#include <cstdint>

namespace xenvhost::queue {

struct QueueStats {
    std::atomic<uint64_t> requests{0};      // completed requests
    std::atomic<uint64_t> notifications{0};  // call eventfd signals
    std::atomic<uint64_t> broken_queues{0};  // queues stopped by a guest error
    std::atomic<uint64_t> write_checks{0};       // buffers read back (EngineSetup::verify_writes)
    std::atomic<uint64_t> write_mismatches{0};   // ... that the guest would not have seen as written
};

}  // namespace xenvhost::queue
