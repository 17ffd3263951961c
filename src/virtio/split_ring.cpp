#include "virtio/split_ring.hpp"

#include <atomic>

namespace xenvhost::virtio {
namespace {

// Guest-shared words are read and written through atomic_ref so the compiler
// neither tears nor repeats the access.
uint16_t load_acquire(const uint16_t* p) {
    return std::atomic_ref<uint16_t>(*const_cast<uint16_t*>(p)).load(std::memory_order_acquire);
}
uint16_t load_relaxed(const uint16_t* p) {
    return std::atomic_ref<uint16_t>(*const_cast<uint16_t*>(p)).load(std::memory_order_relaxed);
}
void store_release(uint16_t* p, uint16_t v) {
    std::atomic_ref<uint16_t>(*p).store(v, std::memory_order_release);
}
void store_relaxed(uint16_t* p, uint16_t v) {
    std::atomic_ref<uint16_t>(*p).store(v, std::memory_order_relaxed);
}

// The event words sit right after the rings; address them by byte offset.
uint16_t* avail_ring(Avail* a) { return a->ring; }
uint16_t* used_event_word(Avail* a, uint16_t size) { return a->ring + size; }
uint16_t* avail_event_word(Used* u, uint16_t size) {
    return reinterpret_cast<uint16_t*>(reinterpret_cast<uint8_t*>(u) + 4 + sizeof(UsedElem) * size);
}

}  // namespace

uint64_t desc_area_size(uint16_t size) { return 16ull * size; }
uint64_t avail_area_size(uint16_t size) { return 6ull + 2ull * size; }
uint64_t used_area_size(uint16_t size) { return 6ull + 8ull * size; }
bool valid_queue_size(uint32_t size) {
    return size != 0 && size <= kMaxQueueSize && (size & (size - 1)) == 0;
}

Result<SplitRing> SplitRing::make(uint16_t size, const RingAddresses& addrs, bool event_idx,
                                  uint16_t last_avail) {
    if (!valid_queue_size(size)) return fail("invalid queue size {}", size);
    if (addrs.desc % 16 || addrs.avail % 2 || addrs.used % 4)
        return fail("misaligned ring: desc {:#x} avail {:#x} used {:#x}", addrs.desc, addrs.avail,
                    addrs.used);
    SplitRing ring;
    ring.size_ = size;
    ring.event_idx_ = event_idx;
    ring.addrs_ = addrs;
    ring.last_avail_ = last_avail;
    return ring;
}

Result<> SplitRing::attach(const memory::GuestMemory& mem) {
    if (auto r = remap(mem); !r) return r;
    // The used index lives in guest memory; a restarted ring continues from it.
    used_idx_ = load_relaxed(&used_->idx);
    published_used_ = used_idx_;
    return {};
}

Result<SplitRing> SplitRing::map(const memory::GuestMemory& mem, uint16_t size,
                                 const RingAddresses& addrs, bool event_idx, uint16_t last_avail) {
    auto ring = make(size, addrs, event_idx, last_avail);
    if (!ring) return ring;
    if (auto r = ring->attach(mem); !r) return std::unexpected(r.error());
    return ring;
}

void SplitRing::detach() {
    desc_ = nullptr;
    avail_ = nullptr;
    used_ = nullptr;
    desc_map_ = {};
    avail_map_ = {};
    used_map_ = {};
}

Result<> SplitRing::remap(const memory::GuestMemory& mem) {
    auto d = mem.map_ring(addrs_.desc, desc_area_size(size_), false);
    if (!d) return fail("descriptor table: {}", d.error().message);
    auto a = mem.map_ring(addrs_.avail, avail_area_size(size_), false);
    if (!a) return fail("avail ring: {}", a.error().message);
    auto u = mem.map_ring(addrs_.used, used_area_size(size_), true);
    if (!u) return fail("used ring: {}", u.error().message);
    // The guest addresses were checked, but a region at an odd mmap offset or
    // an IOTLB entry can still put the areas at misaligned host addresses,
    // where atomic accesses are undefined (and fault on arm64).
    const auto misaligned = [](const memory::RingMapping& m, uintptr_t align) {
        return reinterpret_cast<uintptr_t>(m.host) % align != 0;
    };
    if (misaligned(*d, 16) || misaligned(*a, 2) || misaligned(*u, 4))
        return fail("ring areas map to misaligned host addresses");
    desc_map_ = std::move(*d);
    avail_map_ = std::move(*a);
    used_map_ = std::move(*u);
    desc_ = reinterpret_cast<const Desc*>(desc_map_.host);
    avail_ = reinterpret_cast<Avail*>(avail_map_.host);
    used_ = reinterpret_cast<Used*>(used_map_.host);
    return {};
}

uint16_t SplitRing::avail_idx() const { return load_acquire(&avail_->idx); }

Result<uint16_t> SplitRing::available() const {
    uint16_t n = static_cast<uint16_t>(load_acquire(&avail_->idx) - last_avail_);
    if (n > size_) return fail("avail index moved by {} on a ring of {}", n, size_);
    return n;
}

uint16_t SplitRing::pop() {
    uint16_t head = load_relaxed(avail_ring(avail_) + (last_avail_ & (size_ - 1)));
    ++last_avail_;
    return head;
}

void SplitRing::push_used(uint16_t id, uint32_t len) {
    UsedElem* elem = &used_->ring[used_idx_ & (size_ - 1)];
    std::atomic_ref<uint32_t>(elem->id).store(id, std::memory_order_relaxed);
    std::atomic_ref<uint32_t>(elem->len).store(len, std::memory_order_relaxed);
    ++used_idx_;
}

bool SplitRing::publish() {
    uint16_t old = published_used_;
    uint16_t now = used_idx_;
    if (old == now) return false;
    store_release(&used_->idx, now);
    published_used_ = now;
    // The index store must be visible before we read the driver's wishes.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (event_idx_) {
        uint16_t event = load_relaxed(used_event_word(avail_, size_));
        return static_cast<uint16_t>(now - event - 1) < static_cast<uint16_t>(now - old);
    }
    return !(load_relaxed(&avail_->flags) & kAvailFNoInterrupt);
}

bool SplitRing::arm_kick() {
    if (event_idx_) store_relaxed(avail_event_word(used_, size_), last_avail_);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return load_acquire(&avail_->idx) != last_avail_;
}

}  // namespace xenvhost::virtio
