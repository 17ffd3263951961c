#pragma once
// Walks one descriptor chain with every safety check a hostile driver calls
// for: index bounds, loops, indirect rules, lengths, buffer order. Each
// descriptor is copied out of guest memory exactly once.

#include "memory/guest_memory.hpp"

#include "virtio/ring_layout.hpp"

#include <cstdint>
#include <expected>
#include <string_view>
#include <vector>

namespace xenvhost::virtio {

enum class ChainError {
    kHeadOutOfRange,
    kNextOutOfRange,
    kTooLong,             // more descriptors than the queue (or table) holds: a loop
    kIndirectNotAllowed,  // INDIRECT without the feature
    kIndirectWithNext,
    kNestedIndirect,
    kIndirectBadLength,   // zero, not a multiple of 16, or more than kMaxIndirectEntries
    kIndirectUnreadable,  // table outside guest memory
    kBufferOverflow,      // gpa + len wraps
    kTotalTooLarge,       // more than 4 GiB in one chain
    kReadableAfterWritable,
};

std::string_view describe(ChainError e);

struct DescriptorChain {
    uint16_t head = 0;
    std::vector<memory::GuestBuffer> buffers;  // zero-length descriptors are dropped
    uint64_t readable_len = 0;
    uint64_t writable_len = 0;
};

inline constexpr uint32_t kMaxIndirectEntries = 32768;

class ChainWalker {
public:
    ChainWalker(uint16_t queue_size, bool indirect_allowed);

    // Fills `out` (reused; capacity kept) with the chain starting at `head`.
    std::expected<void, ChainError> walk(const Desc* table, uint16_t head,
                                         const memory::GuestMemory& mem, DescriptorChain& out);

private:
    std::expected<void, ChainError> add(const Desc& d, DescriptorChain& out);
    std::expected<void, ChainError> walk_indirect(const Desc& d, const memory::GuestMemory& mem,
                                                  DescriptorChain& out);
    uint16_t queue_size_;
    bool indirect_allowed_;
    std::vector<Desc> indirect_;  // copy of the current indirect table
};

}  // namespace xenvhost::virtio
