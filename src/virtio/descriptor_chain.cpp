#include "virtio/descriptor_chain.hpp"

#include <algorithm>
#include <cstring>

namespace xenvhost::virtio {
namespace {

// One copy of a descriptor from guest-shared memory, made with two volatile
// loads so the compiler cannot re-read fields the guest may be changing.
Desc load_desc(const Desc* p) {
    const volatile uint64_t* words = reinterpret_cast<const volatile uint64_t*>(p);
    uint64_t copy[2] = {words[0], words[1]};
    Desc d;
    std::memcpy(&d, copy, sizeof d);
    return d;
}

}  // namespace

std::string_view describe(ChainError e) {
    switch (e) {
        case ChainError::kHeadOutOfRange: return "head index out of range";
        case ChainError::kNextOutOfRange: return "next index out of range";
        case ChainError::kTooLong: return "chain longer than its table (loop)";
        case ChainError::kIndirectNotAllowed: return "indirect descriptor without the feature";
        case ChainError::kIndirectWithNext: return "indirect descriptor with NEXT set";
        case ChainError::kNestedIndirect: return "indirect descriptor inside an indirect table";
        case ChainError::kIndirectBadLength: return "indirect table length invalid (zero, not a multiple of 16, or over 32768 entries)";
        case ChainError::kIndirectUnreadable: return "indirect table outside guest memory";
        case ChainError::kBufferOverflow: return "buffer address + length overflows";
        case ChainError::kTotalTooLarge: return "chain longer than 4 GiB";
        case ChainError::kReadableAfterWritable: return "readable descriptor after a writable one";
    }
    return "unknown chain error";
}

ChainWalker::ChainWalker(uint16_t queue_size, bool indirect_allowed)
    : queue_size_(queue_size), indirect_allowed_(indirect_allowed) {
    indirect_.reserve(std::min<size_t>(queue_size, kMaxIndirectEntries));
}

std::expected<void, ChainError> ChainWalker::add(const Desc& d, DescriptorChain& out) {
    const bool writable = d.flags & kDescFWrite;
    if (!writable && out.writable_len) return std::unexpected(ChainError::kReadableAfterWritable);
    if (d.len == 0) return {};
    if (d.addr + d.len < d.addr) return std::unexpected(ChainError::kBufferOverflow);
    uint64_t& total = writable ? out.writable_len : out.readable_len;
    total += d.len;
    if (out.readable_len + out.writable_len > UINT32_MAX)
        return std::unexpected(ChainError::kTotalTooLarge);
    out.buffers.push_back(memory::GuestBuffer{d.addr, d.len, writable});
    return {};
}

std::expected<void, ChainError> ChainWalker::walk_indirect(const Desc& d, const memory::GuestMemory& mem,
                                                           DescriptorChain& out) {
    if (!indirect_allowed_) return std::unexpected(ChainError::kIndirectNotAllowed);
    if (d.flags & kDescFNext) return std::unexpected(ChainError::kIndirectWithNext);
    // Drivers size tables by seg_max, which may exceed the ring size, so the
    // bound is the largest ring the protocol allows.
    if (d.len == 0 || d.len % sizeof(Desc) || d.len / sizeof(Desc) > kMaxIndirectEntries)
        return std::unexpected(ChainError::kIndirectBadLength);
    if (d.addr + d.len < d.addr) return std::unexpected(ChainError::kBufferOverflow);
    const uint32_t count = d.len / sizeof(Desc);
    indirect_.resize(count);
    // The table is copied once; the walk below only reads the copy.
    if (!mem.read(d.addr, {reinterpret_cast<uint8_t*>(indirect_.data()), d.len}))
        return std::unexpected(ChainError::kIndirectUnreadable);
    uint32_t i = 0;
    for (uint32_t seen = 0;; ++seen) {
        if (seen >= count) return std::unexpected(ChainError::kTooLong);
        const Desc& e = indirect_[i];
        if (e.flags & kDescFIndirect) return std::unexpected(ChainError::kNestedIndirect);
        if (auto r = add(e, out); !r) return r;
        if (!(e.flags & kDescFNext)) return {};
        i = e.next;
        if (i >= count) return std::unexpected(ChainError::kNextOutOfRange);
    }
}

std::expected<void, ChainError> ChainWalker::walk(const Desc* table, uint16_t head,
                                                  const memory::GuestMemory& mem,
                                                  DescriptorChain& out) {
    out.head = head;
    out.buffers.clear();
    out.readable_len = 0;
    out.writable_len = 0;
    if (head >= queue_size_) return std::unexpected(ChainError::kHeadOutOfRange);
    Desc d = load_desc(&table[head]);
    for (uint32_t seen = 0;; ++seen) {
        if (seen >= queue_size_) return std::unexpected(ChainError::kTooLong);
        // Zero or more direct descriptors may precede one indirect descriptor.
        if (d.flags & kDescFIndirect) return walk_indirect(d, mem, out);
        if (auto r = add(d, out); !r) return r;
        if (!(d.flags & kDescFNext)) return {};
        if (d.next >= queue_size_) return std::unexpected(ChainError::kNextOutOfRange);
        d = load_desc(&table[d.next]);
    }
}

}  // namespace xenvhost::virtio
