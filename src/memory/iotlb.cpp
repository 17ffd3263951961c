#include "memory/iotlb.hpp"

#include "memory/wait_work.hpp"

#include <algorithm>
#include <thread>

namespace xenvhost::memory {

bool Iotlb::Lease::overlaps(uint64_t iova, uint64_t size) const {
    for (const auto& [start, len] : ranges)
        if (start < iova + size && iova < start + len) return true;
    return false;
}

void Iotlb::Lease::end() {
    if (owner_) owner_->end(*this);
}

Iotlb::Lease::~Lease() { end(); }

void Iotlb::set_miss_handler(MissHandler handler) {
    std::lock_guard lock(mutex_);
    miss_ = std::move(handler);
}

void Iotlb::update(uint64_t iova, uint64_t size, uint64_t uaddr, uint8_t perm) {
    if (size == 0 || iova + size < iova || uaddr + size < uaddr) return;
    std::lock_guard lock(mutex_);
    // A new mapping replaces whatever it overlaps.
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->first < iova + size && iova < it->first + it->second.size) it = entries_.erase(it);
        else ++it;
    }
    entries_[iova] = Entry{size, uaddr, perm};
    changed_.notify_all();
}

bool Iotlb::overlaps_held_lease_locked(uint64_t iova, uint64_t size) const {
    for (const Lease* l : leases_) {
        if (!l->held_ || !l->overlaps(iova, size)) continue;
        // A thread waiting for a MISS answer with no work to do meanwhile
        // finishes none of its requests until the front-end answers, which
        // QEMU does only after this INVALIDATE: waiting for them would
        // deadlock until the MISS times out, so their I/O goes on through the
        // translation they were given. Queue threads reap while they wait
        // (WaitWork), so their requests are waited for.
        auto asking = std::find_if(asking_.begin(), asking_.end(), [&](const Asking& a) { return a.thread == l->thread_; });
        if (asking != asking_.end() && !asking->works) continue;
        return true;
    }
    return false;
}

void Iotlb::invalidate(uint64_t iova, uint64_t size) {
    if (size == 0) return;
    const uint64_t end = iova + size < iova ? UINT64_MAX : iova + size;
    std::unique_lock lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->first < end && iova < it->first + it->second.size) it = entries_.erase(it);
        else ++it;
    }
    ++invalidations_;
    recent_.push_back({invalidations_, iova, end});
    constexpr size_t kRecent = 256;
    if (recent_.size() > kRecent) recent_.pop_front();
    changed_.notify_all();
    // Requests still translating start over; waiting for them could wait
    // for a MISS answer the front-end sends only after this INVALIDATE's.
    for (Lease* l : leases_)
        if (!l->held_ && l->overlaps(iova, end - iova)) l->stale_ = true;
    // In-flight requests finish their I/O on memory they were allowed to use.
    changed_.wait_for(lock, std::chrono::seconds(5), [&] { return !overlaps_held_lease_locked(iova, end - iova); });
}

bool Iotlb::invalidated_since_locked(uint64_t seq, uint64_t iova, uint64_t len) const {
    if (invalidations_ == seq) return false;
    // Older ones than we remember: assume the worst.
    if (recent_.empty() || recent_.front().seq > seq + 1) return true;
    const uint64_t end = iova + len < iova ? UINT64_MAX : iova + len;
    for (const auto& inv : recent_)
        if (inv.seq > seq && inv.start < end && iova < inv.end) return true;
    return false;
}

std::optional<Iotlb::Hit> Iotlb::lookup_locked(uint64_t iova, uint64_t len, uint8_t perm, Fault& fault) const {
    auto it = entries_.upper_bound(iova);
    if (it == entries_.begin()) {
        fault = Fault::kMiss;
        return std::nullopt;
    }
    --it;
    const Entry& e = it->second;
    if (iova - it->first >= e.size) {
        fault = Fault::kMiss;
        return std::nullopt;
    }
    if ((e.perm & perm) != perm) {
        fault = Fault::kDenied;
        return std::nullopt;
    }
    const uint64_t offset = iova - it->first;
    return Hit{e.uaddr + offset, std::min(len, e.size - offset)};
}

std::optional<Iotlb::Hit> Iotlb::translate(uint64_t iova, uint64_t len, uint8_t perm, Fault& fault,
                                           std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    // The answer to a MISS can be invalidated again before this thread sees
    // it (a guest's periodic flush of the whole IOVA space): then ask again.
    constexpr int kAsks = 8;
    for (int ask = 0; ask < kAsks; ++ask) {
        std::unique_lock lock(mutex_);
        if (auto hit = lookup_locked(iova, len, perm, fault)) return hit;
        if (fault == Fault::kDenied || !miss_) return std::nullopt;
        MissHandler miss = miss_;
        const uint64_t invalidations = invalidations_;
        const auto self = std::this_thread::get_id();
        const std::function<void()>* work = WaitWork::current();
        asking_.push_back(Asking{self, work != nullptr});
        changed_.notify_all();  // an invalidation may be waiting for this thread's requests
        lock.unlock();
        miss(iova, perm);  // a notification: the UPDATE it brings is the answer
        lock.lock();
        std::optional<Hit> hit;
        bool invalidated = false;
        auto answered = [&] {
            hit = lookup_locked(iova, len, perm, fault);
            invalidated = invalidated_since_locked(invalidations, iova, len);
            return hit.has_value() || fault == Fault::kDenied || invalidated;
        };
        // With work to do, wake every millisecond to do it (its completions
        // end leases an invalidation may be waiting for).
        constexpr auto kWorkPeriod = std::chrono::milliseconds(1);
        while (!answered() && std::chrono::steady_clock::now() < deadline) {
            if (!work) {
                changed_.wait_until(lock, deadline, answered);
                break;
            }
            if (changed_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + kWorkPeriod), answered))
                break;
            lock.unlock();
            (*work)();
            lock.lock();
        }
        asking_.erase(std::find_if(asking_.begin(), asking_.end(), [&](const Asking& a) { return a.thread == self; }));
        if (hit || fault == Fault::kDenied || !invalidated) return hit;
    }
    fault = Fault::kMiss;
    return std::nullopt;
}

void Iotlb::claim(Lease& l) {
    end(l);
    std::lock_guard lock(mutex_);
    l.owner_ = shared_from_this();
    l.thread_ = std::this_thread::get_id();
    l.held_ = false;
    l.stale_ = false;
    leases_.push_back(&l);
}

bool Iotlb::hold(Lease& lease) {
    std::lock_guard lock(mutex_);
    if (lease.stale_) return false;
    lease.held_ = true;
    return true;
}

void Iotlb::end(Lease& l) {
    if (!l.owner_) return;
    std::shared_ptr<Iotlb> owner;  // let go of after the lock (it may be the last reference)
    std::lock_guard lock(mutex_);
    leases_.erase(std::remove(leases_.begin(), leases_.end(), &l), leases_.end());
    owner = std::move(l.owner_);
    changed_.notify_all();
}

std::shared_ptr<const void> Iotlb::lease(std::vector<std::pair<uint64_t, uint64_t>> ranges) {
    auto l = std::make_shared<Lease>();
    l->ranges = std::move(ranges);
    claim(*l);
    hold(*l);
    return l;
}

size_t Iotlb::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace xenvhost::memory
