#pragma once
// The guest the session seeds describe: one plain region, gpa 0, covering
// pool memfd 0 (64 pages), seen by the front-end at kUaddr. Per queue q: a
// descriptor table, avail and used rings of 128 entries; request buffers
// further up. And the virtio-blk requests a driver puts there.

#include "seeds/session_seed.hpp"
#include "vhost_user/messages.hpp"
#include "virtio/ring_layout.hpp"

#include <linux/virtio_blk.h>

#include <cstdint>
#include <vector>

namespace xenvhost::fuzz::seeds {

inline constexpr uint64_t kUaddr = 0x7f3a00000000;
inline constexpr uint64_t kGuestBytes = 64 * 4096;
inline constexpr uint16_t kQsize = 128;

inline uint64_t desc_gpa(unsigned q) { return 0x1000 + q * 0x4000; }
inline uint64_t avail_gpa(unsigned q) { return desc_gpa(q) + 0x800; }
inline uint64_t used_gpa(unsigned q) { return desc_gpa(q) + 0x1000; }
inline uint64_t hdr_gpa(unsigned q, unsigned i) { return 0x20000 + q * 0x8000 + i * 0x40; }
inline uint64_t data_gpa(unsigned q, unsigned i) { return 0x24000 + q * 0x8000 + i * 0x1000; }
inline uint64_t status_gpa(unsigned q, unsigned i) { return 0x20800 + q * 0x8000 + i; }

// What the driver accepts (SET_FEATURES), before PROTOCOL_FEATURES.
inline constexpr uint64_t kFeatures =
    (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
    (1ull << VIRTIO_BLK_F_CONFIG_WCE) | (1ull << VIRTIO_BLK_F_MQ) | (1ull << VIRTIO_BLK_F_DISCARD) |
    (1ull << VIRTIO_BLK_F_WRITE_ZEROES) | (1ull << virtio::kFIndirectDesc) |
    (1ull << virtio::kFEventIdx) | (1ull << virtio::kFVersion1);

inline vhost_user::MemoryRegion plain_region() {
    return vhost_user::MemoryRegion{0, kGuestBytes, kUaddr, 0};
}

// A SET_MEM_TABLE payload of the given (raw) regions.
std::vector<uint8_t> mem_table(const std::vector<std::vector<uint8_t>>& regions);

// A SET_VRING_ADDR payload for queue q at its place in the layout.
std::vector<uint8_t> vring_addr(unsigned q);

// A three-descriptor virtio-blk request (header, data, status) at slots
// 3i..3i+2 of queue q's table, the header written too.
void blk_request(SessionSeed& s, unsigned q, unsigned i, uint32_t type, uint64_t sector);

// The avail ring of queue q holding `heads`, and its idx.
void avail(SessionSeed& s, unsigned q, const std::vector<uint16_t>& heads);

}  // namespace xenvhost::fuzz::seeds
