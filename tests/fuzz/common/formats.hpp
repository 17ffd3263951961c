#pragma once
// Input layouts of the structure-aware targets, shared by the targets (which
// decode them with ByteReader) and the seed generator (which writes them with
// ByteWriter). All integers little-endian; a short input reads as zeros.

#include <cstdint>

namespace xenvhost::fuzz {

// ---------------------------------------------------------------- fuzz_session
// setup:   u8 config (bit0 xen, bit1 xen handles, bit2 domid set, bits4-5 queues-1)
//          u8 log2 of the device's max queue size (1..15), u16 domid
// pool:    u8 count (0..4), then u8 pages (1..64) per memfd
// records: u8 op, then by op:
//   kMsg        u32 request, u32 flags, u16 payload length, payload,
//               u8 fd count (0..12), u8 fd spec per fd (see SessionFd)
//   kPoke       u8 pool index (0x80 and up: the fd the back-end sent last, e.g. its
//               inflight area), u32 offset, u16 length, bytes (written to that memfd)
//   kKick       u8 ring index
//   kRaw        u16 length, bytes: written as they are, then the write side
//               is shut and the session reads until it gives up
//   kReconnect  a new connection and session over the same device
namespace session_op {
inline constexpr uint8_t kMsg = 0, kPoke = 1, kKick = 2, kRaw = 3, kReconnect = 4, kCount = 5;
}
namespace session_cfg {
inline constexpr uint8_t kXen = 1, kXenHandles = 2, kDomid = 4;
inline constexpr unsigned kQueuesShift = 4;
}
// fd spec: the top two bits choose the kind, the low six a parameter.
namespace session_fd {
inline constexpr uint8_t kPool = 0x00;     // a dup of pool memfd (param % pool size)
inline constexpr uint8_t kEventfd = 0x40;  // a new eventfd
inline constexpr uint8_t kMemfd = 0x80;    // a new memfd of param+1 pages
inline constexpr uint8_t kOther = 0xc0;    // param < 32: /dev/null; else the fd the back-end sent last
}
inline constexpr unsigned kSessionMaxPoolPages = 64;
inline constexpr unsigned kSessionMaxFds = 12;
inline constexpr unsigned kSessionMaxRaw = 8192;
inline constexpr uint8_t kSessionPokeBackend = 0x80;

// ---------------------------------------------------------------- fuzz_chain
// setup:   u8 flags (bit0 indirect allowed, bit1 event idx), u8 log2 queue size (0..10)
//          u8 region count (1..4); per region: u32 gpa page, u8 pages (1..32),
//          u32 byte offset into the memfd (any alignment, as mmap_offset may have)
//          u64 desc, u64 avail, u64 used (guest addresses), u16 last avail
// ops:     u8 op, then by op:
//   kPoke     u32 memfd offset, u16 length, bytes (the driver writes guest memory)
//   kProcess  pops and walks everything available, publishes used entries
//   kWalk     u16 head: walks that chain directly
//   kRemap    maps the ring areas again
//   kArmKick  asks for the next kick (writes avail_event with EVENT_IDX)
namespace chain_op {
inline constexpr uint8_t kPoke = 0, kProcess = 1, kWalk = 2, kRemap = 3, kArmKick = 4, kCount = 5;
}
inline constexpr unsigned kChainMemfdPages = 64;

// ---------------------------------------------------------------- fuzz_queue_engine
// setup:   u8 flags (bit0 indirect allowed, bit1 event idx, bit2 the device answers
//          unmapped requests), u8 log2 queue size (0..8), u32 desc, u32 avail, u32 used
//          (guest addresses in one region of kEngineMemPages pages at 0), u16 last avail,
//          u8 first revoked page, u8 revoked pages (buffers there fail to map)
// ops:     u8 op, then by op:
//   kPoke      u32 offset, u16 length, bytes (the driver writes guest memory;
//              never the used ring, which only the engine writes)
//   kProcess   takes and starts what is available (at most 4 re-checks)
//   kComplete  u16 pick, u32 written: the device completes one of its requests
//   kPublish   publishes and checks the used elements
//   kRemap     set_memory with the same memory
//   kStop      stop(); later kProcess must start nothing
namespace engine_op {
inline constexpr uint8_t kPoke = 0, kProcess = 1, kComplete = 2, kPublish = 3, kRemap = 4, kStop = 5, kCount = 6;
}
inline constexpr unsigned kEngineMemPages = 32;

// ---------------------------------------------------------------- fuzz_blk_request
// u64 capacity (sectors), u8 log2 block size (9..16), u8 flags (bit0 read-only),
// u32 max discard sectors, u32 max write-zeroes sectors,
// u8 out count (0..8), u8 in count (0..8), then per buffer, out first:
//   u16 spec: bit15 huge (length (spec & 0x7fff) << 16, mapped with a hole),
//             else the length (0..4096); bit14 on an in buffer: it aliases
//             the out buffer of the same index instead (driver-chosen overlap)
//   then, for an out buffer that is not huge, its contents (zeros past the input)
inline constexpr unsigned kBlkMaxBuffers = 8;
inline constexpr unsigned kBlkMaxSmall = 4096;
inline constexpr uint16_t kBlkHuge = 0x8000, kBlkAlias = 0x4000;

// ---------------------------------------------------------------- fuzz_xen_regions
// u8 part, then:
//   part 0 (flags and pages): repeated { u32 flags; u8 kind; u64 addr; u64 len }
//   part 1 (XenMemory): u8 region count (1..4); per region: u8 kind (0 plain,
//          1 foreign, 2 grant), u32 domid, u64 gpa, u8 pages (1..16);
//          then ops { u8 op (0 map_ring, 1 read, 2 map_buffers); u64 gpa; u32 len;
//          u8 writable } (map_buffers: u8 count (1..8) of { u64 gpa; u32 len; u8 writable })
//   part 2 (session): u8 config (bit0 handles, bit1 XEN_MMAP, bit2 domid set,
//          bit3 regions in the 40-byte layout), u16 worker domid, then ops
//          { u8 op (0 SET_MEM_TABLE: u8 count (0..9) + regions; 1 ADD_MEM_REG: region;
//          2 REM_MEM_REG: region; 3 ring: u8 index, u16 size, u64 desc, u64 avail,
//          u64 used user addresses; 4 poke: u32 offset, u16 length, bytes) }
//          region: u64 gpa, u32 size, u64 uaddr, u32 mmap offset, u32 xen flags,
//          u32 domid, u8 fd kind (0 memfd, 1 eventfd, 2 /dev/null, 3 no memfd size)
namespace xen_part {
inline constexpr uint8_t kFlagsPages = 0, kMemory = 1, kSession = 2, kCount = 3;
}
namespace xen_cfg {
inline constexpr uint8_t kHandles = 1, kXenMmap = 2, kDomid = 4, kLayout40 = 8;
}
inline constexpr unsigned kXenMemfdPages = 64;

// ---------------------------------------------------------------- fuzz_xenstore_entry
// u8 kind (bit0: 0 virtio_disk, 1 virtio), u16 domid, u16 devid, then pairs:
//   u8 key selector (< 0x80: the kind's known key number (sel % count), else
//   str8 key), str8 value
inline constexpr uint8_t kEntryCustomKey = 0x80;

// ---------------------------------------------------------------- fuzz_transport
// setup:   u8 config (bit0 virtio-pci, else virtio-mmio; bit1 set_features fails,
//          bit2 start fails; bits 4-7 config size in 4-byte words), u8 queues (% 9),
//          u8 log2 maximum queue size (% 16), u64 device features (VERSION_1 added)
// records: u8 op, then by op:
//   kConfig      u16 offset, u8 size (any value), u8 write, u64 data: a PCI config access
//   kWindow      u16 offset, u8 size, u8 write, u64 data: an MMIO access at the
//                transport's window (virtio-mmio) or where its BAR decodes now
//                (virtio-pci, the MSI-X table and PBA included;
//                kTransportBarGuess while it decodes nowhere)
//   kAbsolute    u64 address, u8 size, u8 write, u64 data: an MMIO access anywhere
//   kQueueIrq    u16 queue index: the device has used buffers
//   kConfigIrq   the device's config changed
//   kBroken      the device can no longer work
//   kRefuse      the platform refuses further claims (another device) or stops refusing
namespace transport_op {
inline constexpr uint8_t kConfig = 0, kWindow = 1, kAbsolute = 2, kQueueIrq = 3, kConfigIrq = 4, kBroken = 5,
                         kRefuse = 6, kCount = 7;
}
namespace transport_cfg {
inline constexpr uint8_t kPci = 1, kFeaturesFail = 2, kStartFail = 4;
inline constexpr unsigned kConfigWordsShift = 4;
}
inline constexpr uint64_t kTransportMmioBase = 0xd0000000;
inline constexpr uint64_t kTransportBarGuess = 0xe0000000;
inline constexpr uint64_t kTransportRamEnd = 0x80000000;  // RAM is [0, 2 GiB)

}  // namespace xenvhost::fuzz
