#pragma once
// The view of guest memory that queues use: long-lived ring mappings,
// bounded copies (indirect tables), and per-request buffer mappings. One
// implementation per mapping strategy (plain mmap, Xen grant, Xen foreign).

#include "base/error.hpp"

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace xenvhost::memory {

// One descriptor's buffer, in guest addresses.
struct GuestBuffer {
    uint64_t gpa;
    uint32_t len;
    bool writable;  // device-writable
};

// Host address of a ring area, kept mapped for as long as the object lives.
struct RingMapping {
    uint8_t* host = nullptr;
    std::shared_ptr<const void> keep;  // owns the mapping (or the region it lies in)
};

// Working storage a mapping strategy keeps in a request slot (frame lists,
// the request's mappings, an IOTLB lease) so that mapping a request reuses it
// instead of allocating. One per slot, used by one queue at a time: nothing
// in it is shared, unlike the GuestMemory that several queue threads use.
class MapScratch {
public:
    virtual ~MapScratch() = default;
    // Drops what the last request held (unmaps, ends its lease); keeps the storage.
    virtual void release() = 0;
    // The request is done: what the device wrote into copies of the guest's
    // buffers goes to the guest now (grant copy). A failure means the guest
    // did not get it, so the request must not complete as a success.
    virtual Result<> finish() { return {}; }
};

// Host iovecs of one request, valid until release(). Reused across requests
// so the vectors (and the strategy's scratch) keep their capacity.
struct MappedBuffers {
    std::vector<iovec> out;  // driver-written
    std::vector<iovec> in;   // device-written
    std::shared_ptr<const void> keep;  // what the iovecs point into (the memory, a mapping)
    std::unique_ptr<MapScratch> scratch;

    // Before release() when the request completed (MapScratch::finish).
    Result<> finish() { return scratch ? scratch->finish() : Result<>{}; }
    void release() {
        out.clear();
        in.clear();
        if (scratch) scratch->release();
        keep.reset();
    }
    // The strategy's scratch of type T, made on first use (or when the slot
    // moves to memory of another strategy).
    template <typename T>
    T& scratch_as() {
        if (auto* s = dynamic_cast<T*>(scratch.get())) return *s;
        scratch = std::make_unique<T>();
        return static_cast<T&>(*scratch);
    }
};

class GuestMemory : public std::enable_shared_from_this<GuestMemory> {
public:
    virtual ~GuestMemory() = default;
    // "mmap", "grant" or "foreign": what an operator sees in the status keys.
    virtual std::string_view mode() const = 0;
    // Maps [gpa, gpa+len) for the lifetime of a started ring; fails unless
    // the whole range lies in guest memory (and, for plain memory, in one region).
    // `writable` asks for write access (the used ring); the others are only read.
    virtual Result<RingMapping> map_ring(uint64_t gpa, uint64_t len, bool writable) const = 0;
    // Copies guest bytes into dst; false if any byte lies outside guest memory.
    virtual bool read(uint64_t gpa, std::span<uint8_t> dst) const = 0;
    // The same through a mapping made now rather than a long-lived one: a
    // difference between the two shows a mapping that no longer names the
    // guest's current frame (diagnostics, not the data path).
    virtual bool read_fresh(uint64_t gpa, std::span<uint8_t> dst) const { return read(gpa, dst); }
    // Maps every buffer of a request (appending to out.out / out.in in order)
    // with as few mapping operations as the strategy allows. Fails if any
    // byte lies outside guest memory or cannot be mapped.
    virtual Result<> map_buffers(std::span<const GuestBuffer> buffers, MappedBuffers& out) const = 0;
};

}  // namespace xenvhost::memory
