#include "frontend/split_queue.hpp"

#include <poll.h>
#include <time.h>

#include <atomic>
#include <cstring>

namespace xenvhost::frontend {

namespace {

uint16_t load_acquire(const uint16_t* p) {
    return std::atomic_ref<uint16_t>(*const_cast<uint16_t*>(p)).load(std::memory_order_acquire);
}
void store_release(uint16_t* p, uint16_t v) {
    std::atomic_ref<uint16_t>(*p).store(v, std::memory_order_release);
}

}  // namespace

Result<std::unique_ptr<SplitQueue>> SplitQueue::create(GuestMemory& mem, uint16_t index,
                                                       const QueueOptions& opts,
                                                       const DescriptorAddressing* addressing) {
    uint32_t n = opts.size;
    if (n == 0 || (n & (n - 1)) || n > 32768)
        return fail("queue size {} is not a power of two up to 32768", n);
    static const GpaAddressing gpa_addressing;
    std::unique_ptr<SplitQueue> q(new SplitQueue(mem, index, opts.size, opts.event_idx,
                                                 addressing ? addressing : &gpa_addressing));
    auto alloc = [&](uint64_t bytes) { return mem.alloc(bytes, 4096, opts.region); };
    auto desc = alloc(16ull * n);
    auto avail = alloc(6 + 2ull * n);
    auto used = alloc(6 + 8ull * n);
    if (!desc || !avail || !used) return fail("no guest memory for queue {} rings", index);
    q->desc_gpa_ = *desc;
    q->avail_gpa_ = *avail;
    q->used_gpa_ = *used;
    q->desc_ = reinterpret_cast<vring_desc*>(mem.host(*desc, 16ull * n));
    q->avail_ = mem.host(*avail, 6 + 2ull * n);
    q->used_ = mem.host(*used, 6 + 8ull * n);
    std::memset(q->desc_, 0, 16ull * n);
    std::memset(q->avail_, 0, 6 + 2ull * n);
    std::memset(q->used_, 0, 6 + 8ull * n);
    if (opts.indirect_max) {
        auto ind = alloc(16ull * opts.indirect_max * n);
        if (!ind) return fail("no guest memory for queue {} indirect tables", index);
        q->indirect_gpa_ = *ind;
        q->indirect_max_ = opts.indirect_max;
    }
    q->scratch_size_ = 64 * 1024;
    auto scratch = alloc(q->scratch_size_);
    if (!scratch) return fail("no guest memory for queue {} scratch space", index);
    q->scratch_gpa_ = *scratch;

    q->next_.resize(n);
    for (uint32_t i = 0; i < n; ++i) q->next_[i] = static_cast<uint16_t>((i + 1) % n);
    q->chain_len_.assign(n, 0);
    q->chain_write_.assign(n, 0);
    q->free_head_ = 0;
    q->free_count_ = n;

    auto kick = make_eventfd();
    auto call = make_eventfd();
    if (!kick) return std::unexpected(kick.error());
    if (!call) return std::unexpected(call.error());
    q->kick_ = std::move(*kick);
    q->call_ = std::move(*call);
    return q;
}

Result<vhost_user::VringAddr> SplitQueue::vring_addr() const {
    auto d = mem_.user_addr(desc_gpa_), u = mem_.user_addr(used_gpa_), a = mem_.user_addr(avail_gpa_);
    if (!d || !u || !a) return fail("queue {} rings are outside guest memory", index_);
    return vhost_user::VringAddr{index_, 0, *d, *u, *a, used_gpa_};
}

Result<uint16_t> SplitQueue::add(std::span<const Buffer> chain, bool indirect) {
    if (chain.empty()) return fail("empty chain");
    unsigned need = indirect ? 1 : static_cast<unsigned>(chain.size());
    if (indirect && (!indirect_max_ || chain.size() > indirect_max_))
        return fail("chain of {} does not fit an indirect table of {}", chain.size(),
                    indirect_max_);
    if (need > free_count_) return fail("queue {} has {} free descriptors, need {}", index_,
                                        free_count_, need);
    uint16_t head = free_head_;
    uint32_t writable = 0;
    for (const auto& b : chain)
        if (b.device_writes) writable += b.len;

    if (indirect) {
        uint64_t table_gpa = indirect_gpa_ + uint64_t{head} * indirect_max_ * 16;
        auto* table = reinterpret_cast<vring_desc*>(mem_.host(table_gpa, chain.size() * 16));
        for (size_t i = 0; i < chain.size(); ++i) {
            bool last = i + 1 == chain.size();
            table[i].addr = addressing_->descriptor_address(chain[i].gpa);
            table[i].len = chain[i].len;
            table[i].flags = static_cast<uint16_t>((chain[i].device_writes ? VRING_DESC_F_WRITE : 0) |
                                                   (last ? 0 : VRING_DESC_F_NEXT));
            table[i].next = static_cast<uint16_t>(last ? 0 : i + 1);
        }
        desc_[head].addr = addressing_->descriptor_address(table_gpa);
        desc_[head].len = static_cast<uint32_t>(chain.size() * 16);
        desc_[head].flags = VRING_DESC_F_INDIRECT;
        desc_[head].next = 0;
        free_head_ = next_[head];
    } else {
        uint16_t d = head;
        for (size_t i = 0; i < chain.size(); ++i) {
            bool last = i + 1 == chain.size();
            desc_[d].addr = addressing_->descriptor_address(chain[i].gpa);
            desc_[d].len = chain[i].len;
            desc_[d].flags = static_cast<uint16_t>((chain[i].device_writes ? VRING_DESC_F_WRITE : 0) |
                                                   (last ? 0 : VRING_DESC_F_NEXT));
            desc_[d].next = last ? 0 : next_[d];
            if (!last) d = next_[d];
        }
        free_head_ = next_[d];
    }
    free_count_ -= need;
    chain_len_[head] = static_cast<uint16_t>(need);
    chain_write_[head] = writable;
    ++in_flight_;
    avail_ring()[avail_idx_ % size_] = head;
    ++avail_idx_;
    return head;
}

void SplitQueue::publish() {
    store_release(avail_idx_ptr(), avail_idx_);
    published_idx_ = avail_idx_;
}

bool SplitQueue::kick_needed() {
    // Order the avail->idx store before reading the device's suppression state.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    uint16_t old = kicked_idx_;
    kicked_idx_ = published_idx_;
    if (old == published_idx_) return false;
    if (event_idx_) return vring_need_event(avail_event(), published_idx_, old);
    return !(load_acquire(used_flags()) & VRING_USED_F_NO_NOTIFY);
}

void SplitQueue::kick() { eventfd_signal(kick_.get()); }

bool SplitQueue::publish_and_kick() {
    publish();
    if (!kick_needed()) return false;
    kick();
    return true;
}

uint16_t SplitQueue::used_idx() const { return load_acquire(used_idx_ptr()); }
uint16_t SplitQueue::avail_event() const { return load_acquire(avail_event_ptr()); }

void SplitQueue::free_chain(uint16_t head) {
    uint16_t n = chain_len_[head];
    uint16_t last = head;
    for (uint16_t i = 1; i < n; ++i) last = next_[last];
    next_[last] = free_head_;
    free_head_ = head;
    free_count_ += n;
    chain_len_[head] = 0;
    chain_write_[head] = 0;
    --in_flight_;
}

Result<std::optional<UsedElem>> SplitQueue::pop_used() {
    uint16_t idx = used_idx();
    if (idx == last_used_) return std::optional<UsedElem>{};
    uint16_t pending = static_cast<uint16_t>(idx - last_used_);
    if (pending > in_flight_)
        return fail("queue {}: used idx {} is {} ahead with only {} in flight", index_, idx,
                    pending, in_flight_);
    vring_used_elem e = used_ring()[last_used_ % size_];
    if (e.id >= size_ || chain_len_[e.id] == 0)
        return fail("queue {}: used element id {} is not an in-flight head", index_, e.id);
    if (e.len > chain_write_[e.id])
        return fail("queue {}: used length {} exceeds the {} writable bytes of chain {}", index_,
                    e.len, chain_write_[e.id], e.id);
    free_chain(static_cast<uint16_t>(e.id));
    ++last_used_;
    return std::optional<UsedElem>{UsedElem{static_cast<uint16_t>(e.id), e.len}};
}

bool SplitQueue::arm_interrupt() {
    if (event_idx_) {
        store_release(used_event_ptr(), last_used_);
    } else {
        store_release(avail_flags(), 0);
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return used_idx() == last_used_;
}

void SplitQueue::suppress_interrupts() {
    if (event_idx_) {
        store_release(used_event_ptr(), static_cast<uint16_t>(last_used_ + 0x8000));
    } else {
        store_release(avail_flags(), VRING_AVAIL_F_NO_INTERRUPT);
    }
}

Result<bool> SplitQueue::wait_call(int timeout_ms) {
    pollfd pfd{call_.get(), POLLIN, 0};
    for (;;) {
        int r = ::poll(&pfd, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fail_errno("poll call eventfd");
        if (r == 0) return false;
        eventfd_drain(call_.get());
        return true;
    }
}

Result<std::optional<UsedElem>> SplitQueue::wait_used(int timeout_ms) {
    timespec start{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        auto u = pop_used();
        if (!u || *u) return u;
        if (!arm_interrupt()) continue;
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (spent >= timeout_ms) return pop_used();
        auto w = wait_call(static_cast<int>(timeout_ms - spent));
        if (!w) return std::unexpected(w.error());
        if (!*w) return pop_used();
    }
}

bool SplitQueue::drain_call() { return eventfd_drain(call_.get()); }

void SplitQueue::reset_indices(uint16_t idx) {
    avail_idx_ = published_idx_ = kicked_idx_ = last_used_ = idx;
    store_release(avail_idx_ptr(), idx);
    store_release(used_idx_ptr(), idx);
    // avail_event is the device's field, but a ring that starts mid-way
    // must not begin with a stale value that suppresses the first kick.
    if (event_idx_) {
        store_release(used_event_ptr(), idx);
        store_release(avail_event_ptr(), idx);
    }
}

void SplitQueue::raw_push_avail(uint16_t head) {
    avail_ring()[avail_idx_ % size_] = head;
    ++avail_idx_;
}

void SplitQueue::raw_set_avail_idx(uint16_t idx) {
    avail_idx_ = idx;
    publish();
}

void SplitQueue::raw_submit(uint16_t head, uint16_t count, uint32_t writable) {
    chain_len_[head] = count;
    chain_write_[head] = writable;
    ++in_flight_;
    raw_push_avail(head);
}

Result<std::vector<uint16_t>> SplitQueue::raw_take_descriptors(unsigned count) {
    if (count > free_count_) return fail("only {} free descriptors", free_count_);
    std::vector<uint16_t> ids;
    for (unsigned i = 0; i < count; ++i) {
        ids.push_back(free_head_);
        free_head_ = next_[free_head_];
    }
    free_count_ -= count;
    return ids;
}

}  // namespace xenvhost::frontend
