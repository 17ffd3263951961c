#pragma once
// How the protocol layer starts and stops ring processing without knowing
// about threads: the worker implements this with one thread per running ring.

#include "base/unique_fd.hpp"
#include "memory/guest_memory.hpp"
#include "virtio/inflight.hpp"
#include "virtio/split_ring.hpp"

#include <cstdint>
#include <memory>

namespace xenvhost::vhost_user {

struct VringStart {
    uint16_t index = 0;
    uint16_t size = 0;
    virtio::RingAddresses addrs;  // guest addresses
    uint16_t last_avail = 0;
    bool event_idx = false;
    bool indirect = false;
    int kick_fd = -1;  // owned by the session; valid until stop() returns
    std::shared_ptr<UniqueFd> call;  // may be null (no notifications)
    std::shared_ptr<UniqueFd> err;   // may be null
    std::shared_ptr<const memory::GuestMemory> memory;
    uint64_t features = 0;  // acked virtio features (recorded in the inflight area)
    // Inflight tracking area (INFLIGHT_SHMFD), null if the front-end gave none.
    std::shared_ptr<const virtio::InflightArea> inflight;
    // Map the ring on its own thread: translating its addresses may have to
    // wait for the front-end (an IOTLB miss answered on the main connection).
    bool map_on_ring_thread = false;
    bool verify_guest_writes = false;  // SessionOptions::verify_guest_writes
};

class VringRunner {
public:
    // Starts processing a ring; fails if its areas cannot be mapped.
    virtual Result<> start(const VringStart& start) = 0;
    // Stops a running ring once its in-flight requests have completed and
    // their used elements are published; returns the next avail index.
    virtual uint16_t stop(uint16_t index) = 0;
    virtual void set_call(uint16_t index, std::shared_ptr<UniqueFd> call) = 0;
    // Replaces guest memory for every running ring; returns once none of them
    // uses the old memory for new requests. Fails if a ring cannot be remapped.
    virtual Result<> set_memory(std::shared_ptr<const memory::GuestMemory> memory) = 0;

protected:
    ~VringRunner() = default;
};

}  // namespace xenvhost::vhost_user
