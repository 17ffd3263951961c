#pragma once
// The device IOTLB of a front-end with an IOMMU (VIRTIO_F_ACCESS_PLATFORM):
// I/O virtual addresses → front-end user addresses, with permissions.
// Updated by IOTLB_MSG on the main thread, read by queue threads. A request
// holds a lease on the IOVA ranges it uses, and an invalidation waits for
// overlapping leases to end, so the worker never keeps using memory the
// IOMMU has taken away. While a request is still translating, its lease is
// only claimed: an invalidation marks it stale instead of waiting, because
// the request may be waiting for a MISS answer that a front-end like QEMU
// (one thread, blocked until its INVALIDATE is answered) never sends first.
// A queue thread waiting for a MISS answer keeps submitting and reaping its
// other requests (WaitWork), so an invalidation still waits for those.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace xenvhost::memory {

namespace iotlb_perm {
inline constexpr uint8_t kNone = 0;
inline constexpr uint8_t kRead = 1;
inline constexpr uint8_t kWrite = 2;
inline constexpr uint8_t kReadWrite = 3;
}  // namespace iotlb_perm

class Iotlb : public std::enable_shared_from_this<Iotlb> {
public:
    struct Hit {
        uint64_t uaddr;
        uint64_t len;  // bytes translated, possibly fewer than asked
    };
    enum class Fault { kMiss, kDenied };
    using MissHandler = std::function<void(uint64_t iova, uint8_t perm)>;

    // Called (from a queue thread) when a translation is missing; it sends
    // BACKEND_IOTLB_MSG MISS to the front-end.
    void set_miss_handler(MissHandler handler);

    void update(uint64_t iova, uint64_t size, uint64_t uaddr, uint8_t perm);
    // Removes translations overlapping the range, then waits (bounded) until
    // no request that used them is still running, except requests of a
    // thread that waits for the front-end's answer to a MISS and has no
    // WaitWork to finish them meanwhile.
    void invalidate(uint64_t iova, uint64_t size);

    // Translates the start of [iova, iova+len) needing `perm`; on a miss asks
    // the front-end and waits up to `wait` in all for its update, asking
    // again if an invalidation came meanwhile.
    std::optional<Hit> translate(uint64_t iova, uint64_t len, uint8_t perm, Fault& fault,
                                 std::chrono::milliseconds wait = std::chrono::milliseconds(2000));

    // A request's lease on IOVA ranges. A queue keeps one per request slot
    // and reuses it (its range list keeps its capacity); it ends when end()
    // is called or it goes away.
    class Lease {
    public:
        Lease() = default;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease();
        // The ranges (iova, size) to claim next; change only while not claimed.
        std::vector<std::pair<uint64_t, uint64_t>> ranges;
        bool active() const { return owner_ != nullptr; }
        // Ends it if it is active (Iotlb::end).
        void end();

    private:
        friend class Iotlb;
        bool overlaps(uint64_t iova, uint64_t size) const;
        std::shared_ptr<Iotlb> owner_;
        std::thread::id thread_;  // the queue thread whose request it is
        bool held_ = false;       // invalidations wait for it
        bool stale_ = false;      // claimed, and an invalidation touched its ranges
    };
    // A lease on IOVA ranges, held at once; released when the returned object
    // goes away.
    std::shared_ptr<const void> lease(std::vector<std::pair<uint64_t, uint64_t>> ranges);
    // Claims `lease` (its ranges) before they are translated: invalidations
    // do not wait for it but mark it stale. Ends it first if it was active.
    void claim(Lease& lease);
    // Holds a claimed lease, so that invalidations now wait for it; false if
    // an invalidation touched its ranges since the claim (translations made
    // meanwhile may be stale: translate again under a new claim).
    bool hold(Lease& lease);
    // Ends a lease (no-op if it is not active); invalidations stop waiting for it.
    void end(Lease& lease);

    size_t size() const;

private:
    struct Entry {
        uint64_t size;
        uint64_t uaddr;
        uint8_t perm;
    };
    std::optional<Hit> lookup_locked(uint64_t iova, uint64_t len, uint8_t perm, Fault& fault) const;
    bool overlaps_held_lease_locked(uint64_t iova, uint64_t size) const;

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::map<uint64_t, Entry> entries_;  // by iova; entries never overlap
    std::vector<Lease*> leases_;
    MissHandler miss_;
    // Whether an INVALIDATE after the `seq`th touched [iova, iova+len).
    bool invalidated_since_locked(uint64_t seq, uint64_t iova, uint64_t len) const;

    uint64_t invalidations_ = 0;  // INVALIDATEs so far
    struct Invalidation {
        uint64_t seq, start, end;
    };
    // The latest INVALIDATEs: a thread waiting for a MISS answer asks again
    // only if one of them removed what it waits for (a guest in strict mode
    // invalidates other pages all the time).
    std::deque<Invalidation> recent_;
    struct Asking {
        std::thread::id thread;
        bool works;  // does WaitWork while it waits
    };
    std::vector<Asking> asking_;  // threads waiting for a MISS answer
};

}  // namespace xenvhost::memory
