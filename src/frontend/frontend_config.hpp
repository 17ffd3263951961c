#pragma once
// What the device model knows about one vhost-user device of a guest before
// it connects: where the back-end listens, whose memory it serves, how the
// guest's RAM is laid out, and how patient to be with a restarting back-end.
// vhost-user has no message for the device type, the config size or the
// largest queue, so they come from the device's declaration.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace xenvhost::vhost_frontend {

class RegionDevices;

// How the back-end is told to map guest memory (XEN_MMAP region flags).
enum class RegionKind {
    kForeign,  // guest-physical addresses, privcmd foreign mappings (flag 0x1)
    kGrant,    // grant addresses (1<<63 | gref<<12), gntdev mappings (flag 0x2)
};

// One range of guest RAM, guest-physical; the holes between ranges are not RAM.
struct RamRange {
    uint64_t gpa = 0;
    uint64_t size = 0;
};

// Back-off between attempts to reach a back-end that went away.
struct ReconnectPolicy {
    std::chrono::milliseconds first_delay{20};
    std::chrono::milliseconds max_delay{1000};
    // Past this (counted from the loss), the device is reported broken.
    std::chrono::milliseconds give_up_after{30000};
};

struct FrontendConfig {
    std::string socket_path;
    uint32_t domid = 0;
    uint32_t device_id = 0;         // virtio device type (2 = block)
    uint32_t config_size = 0;       // device config bytes; 0: the type's own size
    uint16_t queue_max_size = 256;  // largest ring the driver may choose
    std::vector<RamRange> ram;      // foreign mode: one region per range (at most 8)
    RegionKind region_kind = RegionKind::kForeign;
    uint64_t grant_space_size = 0;  // grant mode: bytes of grant space (grefs x 4 KiB)
    // privcmd (foreign) or gntdev (grant) fds sent with the regions, opened
    // once by whoever builds the configuration (frontend/region_devices.hpp).
    std::shared_ptr<const RegionDevices> region_devices;
    int reply_timeout_ms = 5000;    // every request/reply exchange is bounded by this
    ReconnectPolicy reconnect;
};

}  // namespace xenvhost::vhost_frontend
