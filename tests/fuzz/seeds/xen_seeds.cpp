// fuzz_xen_regions seeds: region flags and page numbers, a plain region next
// to grant and foreign ones, and the sessions xen-vhost-frontend and stock
// QEMU open with XEN_MMAP.

#include "common/bytes.hpp"
#include "common/formats.hpp"
#include "seeds/ring_bytes.hpp"
#include "seeds/seed_writer.hpp"
#include "seeds/target_seeds.hpp"

#include <string>

namespace xenvhost::fuzz::seeds {
namespace {

const std::string kTarget = "fuzz_xen_regions";

// Grant addresses have the top bit set.
constexpr uint64_t kGrant = 1ull << 63;

void flags_pages() {
    ByteWriter w;
    w.u8(xen_part::kFlagsPages);
    const uint64_t g = kGrant;
    const struct {
        uint32_t flags;
        uint8_t kind;
        uint64_t addr, len;
    } cases[] = {{0x1, 1, 0x40000000, 0x3000},   {0x2, 2, g | (77ull << 12) | 0x800, 0x1000},
                 {0xa, 2, g | 0x5000, 16},       {0x102, 2, g | (0xffffffffull << 12), 0x1000},
                 {0x3, 2, 0x1000, 16},           {0x8, 1, ~0ull - 8, 16},
                 {0x104, 0, 0x12345678, 0x2000}, {0x0, 2, g - 16, 32}};
    for (const auto& c : cases) w.u32(c.flags).u8(c.kind).u64(c.addr).u64(c.len);
    write_seed(kTarget, "flags-pages", w);
}

// A plain region for the rings next to grant and foreign regions.
void xen_memory() {
    ByteWriter w;
    w.u8(xen_part::kMemory).u8(2);
    w.u8(0).u32(7).u64(0x100000).u8(15);      // plain, 16 pages
    w.u8(2).u32(7).u64(kGrant).u8(15);        // grant, 16 pages
    w.u8(1).u32(7).u64(0x40000000).u8(3);     // foreign, 4 pages
    w.u8(0).u64(0x100000).u32(0x1000).u8(1);  // map_ring in plain memory
    w.u8(0).u64(kGrant).u32(0x800).u8(0);     // map_ring in grant memory
    w.u8(1).u64(0x10fff0).u16(0x20);          // read across the end of plain memory
    w.u8(2).u8(1);                            // map_buffers of two buffers: plain, grant
    w.u64(0x100800).u32(0x1000).u8(0);
    w.u64(kGrant | 0x2000).u32(0x200).u8(1);
    write_seed(kTarget, "xen-memory", w);
}

// What xen-vhost-frontend sends in grant mode, then a plain table the rings use.
void session_grant() {
    ByteWriter w;
    w.u8(xen_part::kSession).u8(xen_cfg::kHandles | xen_cfg::kXenMmap | xen_cfg::kDomid | xen_cfg::kLayout40).u16(5);
    auto region = [&](uint64_t gpa, uint32_t size, uint64_t uaddr, uint32_t flags, uint32_t domid, uint8_t fd) {
        w.u64(gpa).u32(size).u64(uaddr).u32(0).u32(flags).u32(domid).u8(fd);
    };
    w.u8(0).u8(3);  // SET_MEM_TABLE: rings (0x2) and the rest (0xa), fds /dev/null
    region(kGrant, 0x3000, 0x7f0000000000, 0x2, 5, 2);
    region(kGrant + 0x3000, 0x100000, 0, 0xa, 5, 2);
    region(0x40000000, 0x100000, 0x7f1000000000, 0x1, 5, 1);
    w.u8(0).u8(1);  // a plain table over the memfd
    region(0, 64 * 4096, 0x7f2000000000, 0, 5, 0);
    w.u8(4).u32(0x1400).blob(avail_bytes({0}, 1));
    w.u8(4).u32(0x1000).blob(cat({desc(0x4000, 16, virtio::kDescFNext, 1), desc(0x5000, 1, virtio::kDescFWrite, 0)}));
    w.u8(3).u8(0).u16(64).u64(0x7f2000001000).u64(0x7f2000001400).u64(0x7f2000002000);
    w.u8(1);  // ADD_MEM_REG of a grant region with a memfd
    region(kGrant + 0x200000, 0x10000, 0x7f3000000000, 0x2, 5, 0);
    w.u8(2);  // REM_MEM_REG of the plain region
    region(0, 64 * 4096, 0x7f2000000000, 0, 5, 0);
    write_seed(kTarget, "session-grant", w);
}

// A 32-byte table after XEN_MMAP (stock QEMU acks bit 17 and sends these).
void session_32_byte_layout() {
    ByteWriter w;
    w.u8(xen_part::kSession).u8(xen_cfg::kXenMmap).u16(0);
    w.u8(0).u8(1).u64(0).u32(64 * 4096).u64(0x7f2000000000).u32(0).u32(0).u32(0).u8(0);
    write_seed(kTarget, "session-32-byte-layout", w);
}

}  // namespace

void xen_seeds() {
    flags_pages();
    xen_memory();
    session_grant();
    session_32_byte_layout();
}

}  // namespace xenvhost::fuzz::seeds
