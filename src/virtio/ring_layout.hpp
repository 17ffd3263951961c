#pragma once
// Split-ring layouts and flags of the virtio specification (1.2, 2.7).
// <linux/virtio_ring.h> carries the same definitions but its inline helpers
// do not compile as C++, hence this header.

#include <cstdint>

namespace xenvhost::virtio {

inline constexpr uint16_t kDescFNext = 1;
inline constexpr uint16_t kDescFWrite = 2;
inline constexpr uint16_t kDescFIndirect = 4;
inline constexpr uint16_t kAvailFNoInterrupt = 1;
inline constexpr uint16_t kUsedFNoNotify = 1;

// Feature bits of the transport (virtio feature word).
inline constexpr unsigned kFIndirectDesc = 28;
inline constexpr unsigned kFEventIdx = 29;
inline constexpr unsigned kFVersion1 = 32;
inline constexpr unsigned kFAccessPlatform = 33;

struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
static_assert(sizeof(Desc) == 16);

struct Avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];  // size entries, then used_event
};

struct UsedElem {
    uint32_t id;
    uint32_t len;
};
static_assert(sizeof(UsedElem) == 8);

struct Used {
    uint16_t flags;
    uint16_t idx;
    UsedElem ring[];  // size entries, then avail_event
};

}  // namespace xenvhost::virtio
