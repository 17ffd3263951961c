#pragma once
// The memory table sent to the back-end: 40-byte XEN_MMAP regions that say
// how to map the guest, never memory of our own (the device model maps no
// guest RAM). Foreign mode: one region per RAM range, guest and user address
// both the guest-physical address, flags 0x1, fd a privcmd restricted to the guest. Grant
// mode: the grant space, with each queue's ring area in a region the back-end
// may map in advance (flags 0x2; it translates ring addresses through such
// regions) and the rest "no advance map" (0x2|0x8), fd an open gntdev.
// Built at start() from the queues and kept, with its fds, for reconnects.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "frontend/frontend_config.hpp"
#include "frontend/request_client.hpp"
#include "transport/virtio_device.hpp"
#include "vhost_user/messages.hpp"

#include <span>
#include <vector>

namespace xenvhost::vhost_frontend {

inline constexpr uint64_t kXenPageSize = 4096;
inline constexpr uint64_t kGrantSpaceBase = uint64_t{1} << 63;
// Grant refs are 32-bit: the most grant space a guest can have.
inline constexpr uint64_t kMaxGrantSpace = (uint64_t{1} << 32) * kXenPageSize;

// The configured layout is usable: RAM ranges page aligned, sorted, disjoint,
// at most 8 (one SET_MEM_TABLE); grant space non-empty in grant mode.
Result<> check_layout(const FrontendConfig& cfg);

// Every ring of every queue lies inside guest memory the table describes
// (one RAM range, or the grant space); kGuestFault otherwise.
Result<> check_rings(const FrontendConfig& cfg, std::span<const transport::QueueConfig> queues);

struct RingArea {
    uint64_t addr = 0;
    uint64_t len = 0;
};
// The three parts of a split ring (descriptors 16n, avail 6+2n, used 6+8n bytes).
std::vector<RingArea> ring_areas(const transport::QueueConfig& q);

class MemoryTable {
public:
    static Result<MemoryTable> build(const FrontendConfig& cfg, std::span<const transport::QueueConfig> queues);

    std::span<const vhost_user::XenMemoryRegion> regions() const { return regions_; }
    Result<> send(RequestClient& client) const;

private:
    Result<> add(const FrontendConfig& cfg, uint64_t addr, uint64_t size, uint32_t flags);

    std::vector<vhost_user::XenMemoryRegion> regions_;
    std::vector<UniqueFd> fds_;  // one per region, each a duplicate of the device model's open device
};

}  // namespace xenvhost::vhost_frontend
