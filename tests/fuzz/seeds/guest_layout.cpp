// The payloads and guest memory writes of guest_layout.hpp.

#include "seeds/guest_layout.hpp"

#include "seeds/ring_bytes.hpp"

namespace xenvhost::fuzz::seeds {
using namespace vhost_user;

std::vector<uint8_t> mem_table(const std::vector<std::vector<uint8_t>>& regions) {
    std::vector<uint8_t> p = raw(MemoryTableHeader{static_cast<uint32_t>(regions.size()), 0});
    for (const auto& r : regions) p.insert(p.end(), r.begin(), r.end());
    return p;
}

std::vector<uint8_t> vring_addr(unsigned q) {
    VringAddr a{q, 0, kUaddr + desc_gpa(q), kUaddr + used_gpa(q), kUaddr + avail_gpa(q), 0};
    return raw(a);
}

void blk_request(SessionSeed& s, unsigned q, unsigned i, uint32_t type, uint64_t sector) {
    const uint16_t d0 = static_cast<uint16_t>(3 * i);
    const bool read = type == VIRTIO_BLK_T_IN;
    auto table = cat({desc(hdr_gpa(q, i), 16, virtio::kDescFNext, d0 + 1),
                      desc(data_gpa(q, i), 4096, virtio::kDescFNext | (read ? virtio::kDescFWrite : 0), d0 + 2),
                      desc(status_gpa(q, i), 1, virtio::kDescFWrite, 0)});
    s.poke(desc_gpa(q) + 16ull * d0, table);
    s.poke(hdr_gpa(q, i), raw(virtio_blk_outhdr{type, 0, sector}));
}

void avail(SessionSeed& s, unsigned q, const std::vector<uint16_t>& heads) {
    s.poke(avail_gpa(q), avail_bytes(heads, static_cast<uint16_t>(heads.size())));
}

}  // namespace xenvhost::fuzz::seeds
