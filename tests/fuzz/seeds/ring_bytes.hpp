#pragma once
// The bytes of split virtqueue structures as a driver writes them: a
// descriptor, and an avail ring. Shared by the targets that fuzz rings.

#include "seeds/seed_writer.hpp"
#include "virtio/ring_layout.hpp"

#include <cstdint>
#include <vector>

namespace xenvhost::fuzz::seeds {

inline std::vector<uint8_t> desc(uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    return raw(virtio::Desc{addr, len, flags, next});
}

// flags 0, then idx, then the ring entries.
inline std::vector<uint8_t> avail_bytes(const std::vector<uint16_t>& heads, uint16_t idx) {
    std::vector<uint8_t> a = cat({raw(uint16_t{0}), raw(idx)});
    for (uint16_t h : heads) {
        auto b = raw(h);
        a.insert(a.end(), b.begin(), b.end());
    }
    return a;
}

}  // namespace xenvhost::fuzz::seeds
