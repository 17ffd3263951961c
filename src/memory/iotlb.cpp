#include "memory/iotlb.hpp"

#include <algorithm>

namespace xenvhost::memory {

struct Iotlb::Lease {
    std::shared_ptr<Iotlb> owner;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;  // iova, size
    ~Lease() {
        std::lock_guard lock(owner->mutex_);
        auto& v = owner->leases_;
        v.erase(std::remove(v.begin(), v.end(), this), v.end());
        owner->changed_.notify_all();
    }
};

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

bool Iotlb::overlaps_lease_locked(uint64_t iova, uint64_t size) const {
    for (const Lease* l : leases_)
        for (const auto& [start, len] : l->ranges)
            if (start < iova + size && iova < start + len) return true;
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
    // In-flight requests finish their I/O on memory they were allowed to use.
    changed_.wait_for(lock, std::chrono::seconds(5), [&] { return !overlaps_lease_locked(iova, end - iova); });
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
    MissHandler miss;
    {
        std::lock_guard lock(mutex_);
        if (auto hit = lookup_locked(iova, len, perm, fault)) return hit;
        if (fault == Fault::kDenied) return std::nullopt;
        miss = miss_;
    }
    if (!miss) return std::nullopt;
    miss(iova, perm);
    std::unique_lock lock(mutex_);
    std::optional<Hit> hit;
    changed_.wait_for(lock, wait, [&] {
        hit = lookup_locked(iova, len, perm, fault);
        return hit.has_value() || fault == Fault::kDenied;
    });
    return hit;
}

std::shared_ptr<const void> Iotlb::lease(std::vector<std::pair<uint64_t, uint64_t>> ranges) {
    auto l = std::make_shared<Lease>();
    l->owner = shared_from_this();
    l->ranges = std::move(ranges);
    std::lock_guard lock(mutex_);
    leases_.push_back(l.get());
    return l;
}

size_t Iotlb::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace xenvhost::memory
