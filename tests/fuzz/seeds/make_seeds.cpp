// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/seed-*.bin):
// realistic inputs in each target's layout (common/formats.hpp), so fuzzing
// starts from what real peers send. fuzz_session gets the message sequences
// QEMU 7.2's vhost-user-blk sends (1 and 2 queues, a memory table or ADD_MEM_REG,
// inflight areas, kicks on valid rings), plus reconnects, resets and broken
// framing; fuzz_chain valid rings (direct, indirect, across regions);
// fuzz_queue_engine requests completed out of order, revoked pages, guest faults;
// fuzz_blk_request every request type; fuzz_xen_regions what
// xen-vhost-frontend sends; fuzz_xenstore_entry the trees libxl writes.
//
//   make-seeds DIR      (DIR = tests/fuzz/corpus)

#include "common/bytes.hpp"
#include "common/formats.hpp"
#include "vhost_user/messages.hpp"
#include "virtio/ring_layout.hpp"

#include <linux/virtio_blk.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace xenvhost;
using namespace xenvhost::fuzz;
using namespace xenvhost::vhost_user;
namespace fs = std::filesystem;

namespace {

fs::path g_root;
int g_written = 0;

void write_seed(const std::string& target, const std::string& name, const ByteWriter& w,
                const std::string& prefix = "seed") {
    fs::path dir = g_root / target;
    fs::create_directories(dir);
    std::ofstream f(dir / (prefix == "crash" ? name + ".bin" : prefix + "-" + name + ".bin"),
                    std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(w.data().data()), static_cast<std::streamsize>(w.data().size()));
    if (!f) {
        std::fprintf(stderr, "make-seeds: cannot write %s/%s\n", dir.c_str(), name.c_str());
        std::exit(1);
    }
    ++g_written;
}

template <typename T>
std::vector<uint8_t> raw(const T& v) {
    std::vector<uint8_t> b(sizeof v);
    std::memcpy(b.data(), &v, sizeof v);
    return b;
}

std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
    std::vector<uint8_t> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

// ---------------------------------------------------------------- guest memory layout
// One plain region, gpa 0, covering pool memfd 0 (64 pages), seen by the
// front-end at kUaddr. Per queue q: a descriptor table, avail and used rings
// of 128 entries; request buffers further up.

constexpr uint64_t kUaddr = 0x7f3a00000000;
constexpr uint64_t kGuestBytes = 64 * 4096;
constexpr uint16_t kQsize = 128;

uint64_t desc_gpa(unsigned q) { return 0x1000 + q * 0x4000; }
uint64_t avail_gpa(unsigned q) { return desc_gpa(q) + 0x800; }
uint64_t used_gpa(unsigned q) { return desc_gpa(q) + 0x1000; }
uint64_t hdr_gpa(unsigned q, unsigned i) { return 0x20000 + q * 0x8000 + i * 0x40; }
uint64_t data_gpa(unsigned q, unsigned i) { return 0x24000 + q * 0x8000 + i * 0x1000; }
uint64_t status_gpa(unsigned q, unsigned i) { return 0x20800 + q * 0x8000 + i; }

constexpr uint64_t kFeatures = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
                               (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_CONFIG_WCE) |
                               (1ull << VIRTIO_BLK_F_MQ) | (1ull << VIRTIO_BLK_F_DISCARD) |
                               (1ull << VIRTIO_BLK_F_WRITE_ZEROES) | (1ull << virtio::kFIndirectDesc) |
                               (1ull << virtio::kFEventIdx) | (1ull << virtio::kFVersion1);

// ---------------------------------------------------------------- fuzz_session

class SessionSeed {
public:
    SessionSeed(uint8_t cfg, uint8_t log2_max, uint16_t domid, std::vector<uint8_t> pool_pages) {
        w_.u8(cfg).u8(log2_max).u16(domid).u8(static_cast<uint8_t>(pool_pages.size()));
        for (uint8_t p : pool_pages) w_.u8(p);
    }
    SessionSeed& msg(Request r, uint32_t flags, const std::vector<uint8_t>& payload, std::vector<uint8_t> fds = {}) {
        w_.u8(session_op::kMsg).u32(static_cast<uint32_t>(r)).u32(flags).blob(payload);
        w_.u8(static_cast<uint8_t>(fds.size()));
        for (uint8_t f : fds) w_.u8(f);
        return *this;
    }
    SessionSeed& poke(uint64_t gpa, const std::vector<uint8_t>& bytes) {
        w_.u8(session_op::kPoke).u8(0).u32(static_cast<uint32_t>(gpa)).blob(bytes);
        return *this;
    }
    // Writes into the back-end's inflight area (the fd it sent last).
    SessionSeed& poke_backend(uint32_t offset, const std::vector<uint8_t>& bytes) {
        w_.u8(session_op::kPoke).u8(kSessionPokeBackend).u32(offset).blob(bytes);
        return *this;
    }
    SessionSeed& kick(uint8_t ring) {
        w_.u8(session_op::kKick).u8(ring);
        return *this;
    }
    SessionSeed& raw_tail(const std::vector<uint8_t>& bytes) {
        w_.u8(session_op::kRaw).blob(bytes);
        return *this;
    }
    SessionSeed& reconnect() {
        w_.u8(session_op::kReconnect);
        return *this;
    }
    const ByteWriter& writer() const { return w_; }

private:
    ByteWriter w_;
};

constexpr uint32_t kReq = kVersion;
constexpr uint32_t kAck = kVersion | kFlagNeedReply;
constexpr uint8_t kFdPool0 = session_fd::kPool | 0;
constexpr uint8_t kFdEvent = session_fd::kEventfd;
constexpr uint8_t kFdBackend = session_fd::kOther | 0x20;
constexpr uint8_t kFdDevNull = session_fd::kOther | 0x00;

std::vector<uint8_t> u64b(uint64_t v) { return raw(v); }
std::vector<uint8_t> state(uint32_t index, uint32_t num) { return raw(VringState{index, num}); }

MemoryRegion plain_region() { return MemoryRegion{0, kGuestBytes, kUaddr, 0}; }

std::vector<uint8_t> mem_table(const std::vector<std::vector<uint8_t>>& regions) {
    std::vector<uint8_t> p = raw(MemoryTableHeader{static_cast<uint32_t>(regions.size()), 0});
    for (const auto& r : regions) p.insert(p.end(), r.begin(), r.end());
    return p;
}

std::vector<uint8_t> vring_addr(unsigned q) {
    VringAddr a{q, 0, kUaddr + desc_gpa(q), kUaddr + used_gpa(q), kUaddr + avail_gpa(q), 0};
    return raw(a);
}

std::vector<uint8_t> desc(uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    return raw(virtio::Desc{addr, len, flags, next});
}

// A three-descriptor virtio-blk request (header, data, status) at slots
// 3i..3i+2 of queue q's table, the header written too.
void blk_request(SessionSeed& s, unsigned q, unsigned i, uint32_t type, uint64_t sector) {
    const uint16_t d0 = static_cast<uint16_t>(3 * i);
    const bool read = type == VIRTIO_BLK_T_IN;
    auto table = cat({desc(hdr_gpa(q, i), 16, virtio::kDescFNext, d0 + 1),
                      desc(data_gpa(q, i), 4096, virtio::kDescFNext | (read ? virtio::kDescFWrite : 0), d0 + 2),
                      desc(status_gpa(q, i), 1, virtio::kDescFWrite, 0)});
    s.poke(desc_gpa(q) + 16ull * d0, table);
    s.poke(hdr_gpa(q, i), raw(virtio_blk_outhdr{type, 0, sector}));
}

// The avail ring of queue q holding `heads`, and its idx.
void avail(SessionSeed& s, unsigned q, const std::vector<uint16_t>& heads) {
    std::vector<uint8_t> a = raw(uint16_t{0});
    auto idx = raw(static_cast<uint16_t>(heads.size()));
    a.insert(a.end(), idx.begin(), idx.end());
    for (uint16_t h : heads) {
        auto b = raw(h);
        a.insert(a.end(), b.begin(), b.end());
    }
    s.poke(avail_gpa(q), a);
}

uint64_t offered_protocol(bool xen) {
    using namespace protocol_feature;
    uint64_t f = bit(kMq) | bit(kReplyAck) | bit(kConfig) | bit(kConfigureMemSlots) | bit(kResetDevice) |
                 bit(kStatus) | bit(kInflightShmfd);
    if (xen) f |= bit(kXenMmap);
    return f;
}

// What QEMU 7.2's vhost-user-blk sends when it connects (vhost_dev_init,
// vhost_user_blk_realize): features, protocol features, queue count, slots, config.
void qemu_connect(SessionSeed& s, bool xen = false) {
    s.msg(Request::kGetFeatures, kReq, {});
    s.msg(Request::kGetProtocolFeatures, kReq, {});
    s.msg(Request::kSetProtocolFeatures, kReq, u64b(offered_protocol(xen)));
    s.msg(Request::kGetQueueNum, kReq, {});
    s.msg(Request::kGetMaxMemSlots, kReq, {});
    s.msg(Request::kSetOwner, kAck, {});
    std::vector<uint8_t> cfg = raw(ConfigHeader{0, 60, 0});
    cfg.resize(12 + 60);
    s.msg(Request::kGetConfig, kReq, cfg);
}

enum class InflightStep { kNone, kGetAndSet, kSetOnly };

// What it sends when the guest driver starts the device (vhost_user_blk_start):
// GET_INFLIGHT_FD only the first time, SET_INFLIGHT_FD on every start.
void qemu_start(SessionSeed& s, unsigned queues, bool add_mem_reg, InflightStep inflight = InflightStep::kGetAndSet) {
    if (inflight != InflightStep::kNone) {
        if (inflight == InflightStep::kGetAndSet)
            s.msg(Request::kGetInflightFd, kReq, raw(Inflight{0, 0, static_cast<uint16_t>(queues), kQsize, {}}));
        // The area: one 64-byte aligned stride per queue of 16 + 16*128 bytes.
        const uint64_t stride = (16 + 16 * kQsize + 63) & ~63ull;
        s.msg(Request::kSetInflightFd, kAck, raw(Inflight{stride * queues, 0, static_cast<uint16_t>(queues), kQsize, {}}),
              {kFdBackend});
    }
    s.msg(Request::kSetFeatures, kAck, u64b(kFeatures | bit(kFeatureProtocolFeatures)));
    if (add_mem_reg)
        s.msg(Request::kAddMemReg, kAck, cat({u64b(0), raw(plain_region())}), {kFdPool0});
    else
        s.msg(Request::kSetMemTable, kAck, mem_table({raw(plain_region())}), {kFdPool0});
    for (unsigned q = 0; q < queues; ++q) {
        s.msg(Request::kSetVringNum, kAck, state(q, kQsize));
        s.msg(Request::kSetVringBase, kAck, state(q, 0));
        s.msg(Request::kSetVringAddr, kAck, vring_addr(q));
        s.msg(Request::kSetVringKick, kAck, u64b(q), {kFdEvent});
        s.msg(Request::kSetVringCall, kAck, u64b(q), {kFdEvent});
    }
    for (unsigned q = 0; q < queues; ++q) s.msg(Request::kSetVringEnable, kAck, state(q, 1));
}

void qemu_stop(SessionSeed& s, unsigned queues) {
    for (unsigned q = 0; q < queues; ++q) s.msg(Request::kGetVringBase, kReq, state(q, 0));
}

uint8_t queues_cfg(unsigned queues) { return static_cast<uint8_t>((queues - 1) << session_cfg::kQueuesShift); }

void session_seeds() {
    const std::string t = "fuzz_session";
    {
        SessionSeed s(queues_cfg(1), 8, 0, {64});
        qemu_connect(s);
        blk_request(s, 0, 0, VIRTIO_BLK_T_IN, 0);
        blk_request(s, 0, 1, VIRTIO_BLK_T_OUT, 8);
        avail(s, 0, {0, 3});
        qemu_start(s, 1, false);
        blk_request(s, 0, 2, VIRTIO_BLK_T_FLUSH, 0);
        avail(s, 0, {0, 3, 6});
        s.kick(0);
        qemu_stop(s, 1);
        write_seed(t, "qemu-blk-1q", s.writer());
    }
    {
        SessionSeed s(queues_cfg(2), 8, 0, {64});
        qemu_connect(s);
        blk_request(s, 0, 0, VIRTIO_BLK_T_IN, 0);
        blk_request(s, 1, 0, VIRTIO_BLK_T_OUT, 16);
        avail(s, 0, {0});
        avail(s, 1, {0});
        qemu_start(s, 2, true);
        blk_request(s, 1, 1, VIRTIO_BLK_T_GET_ID, 0);
        avail(s, 1, {0, 3});
        s.kick(1);
        qemu_stop(s, 2);
        write_seed(t, "qemu-blk-2q-add-mem-reg", s.writer());
    }
    {
        // The back-end restarts with requests in flight: same inflight area, new connection.
        SessionSeed s(queues_cfg(1), 8, 0, {64});
        qemu_connect(s);
        blk_request(s, 0, 0, VIRTIO_BLK_T_IN, 0);
        avail(s, 0, {0});
        qemu_start(s, 1, false);
        // As if the back-end had died with head 0 taken but not completed:
        // the used index back at 0 in the ring and in the area, and head 0
        // in flight (DescStateSplit: inflight 1, counter 5).
        s.reconnect();
        s.poke(used_gpa(0) + 2, raw(uint16_t{0}));
        s.poke_backend(14, raw(uint16_t{0}));
        std::vector<uint8_t> d0(16, 0);
        d0[0] = 1;
        d0[8] = 5;
        s.poke_backend(16, d0);
        qemu_connect(s);
        qemu_start(s, 1, false, InflightStep::kSetOnly);
        s.kick(0);
        qemu_stop(s, 1);
        write_seed(t, "reconnect-inflight", s.writer());
    }
    {
        // A driver with indirect descriptors and EVENT_IDX.
        SessionSeed s(queues_cfg(1), 8, 0, {64});
        qemu_connect(s);
        const uint64_t table = 0x30000;
        auto ind = cat({desc(hdr_gpa(0, 0), 16, virtio::kDescFNext, 1),
                        desc(data_gpa(0, 0), 4096, virtio::kDescFNext | virtio::kDescFWrite, 2),
                        desc(status_gpa(0, 0), 1, virtio::kDescFWrite, 0)});
        s.poke(table, ind);
        s.poke(hdr_gpa(0, 0), raw(virtio_blk_outhdr{VIRTIO_BLK_T_IN, 0, 0}));
        s.poke(desc_gpa(0), desc(table, 48, virtio::kDescFIndirect, 0));
        avail(s, 0, {0});
        qemu_start(s, 1, false, InflightStep::kNone);
        qemu_stop(s, 1);
        write_seed(t, "indirect", s.writer());
    }
    {
        // A front-end without PROTOCOL_FEATURES: rings enabled by SET_FEATURES.
        SessionSeed s(queues_cfg(1), 8, 0, {64});
        s.msg(Request::kGetFeatures, kReq, {});
        s.msg(Request::kSetOwner, kReq, {});
        blk_request(s, 0, 0, VIRTIO_BLK_T_IN, 0);
        avail(s, 0, {0});
        s.msg(Request::kSetMemTable, kReq, mem_table({raw(plain_region())}), {kFdPool0});
        s.msg(Request::kSetVringNum, kReq, state(0, kQsize));
        s.msg(Request::kSetVringBase, kReq, state(0, 0));
        s.msg(Request::kSetVringAddr, kReq, vring_addr(0));
        s.msg(Request::kSetVringKick, kReq, u64b(0), {kFdEvent});
        s.msg(Request::kSetFeatures, kReq, u64b(kFeatures));
        qemu_stop(s, 1);
        write_seed(t, "no-protocol-features", s.writer());
    }
    {
        // Resets, status, config writes, memory removal while stopped.
        SessionSeed s(queues_cfg(2), 10, 0, {64, 8});
        qemu_connect(s);
        qemu_start(s, 2, true);
        s.msg(Request::kSetStatus, kAck, u64b(0xf));
        s.msg(Request::kGetStatus, kReq, {});
        std::vector<uint8_t> wce = raw(ConfigHeader{32, 1, 0});
        wce.push_back(0);
        s.msg(Request::kSetConfig, kAck, wce);
        qemu_stop(s, 2);
        s.msg(Request::kRemMemReg, kAck, cat({u64b(0), raw(plain_region())}));
        s.msg(Request::kResetDevice, kAck, {});
        s.msg(Request::kResetOwner, kReq, {});
        write_seed(t, "resets", s.writer());
    }
    {
        // Framing a back-end must survive: too many fds, a mismatched table,
        // an out-of-range ring, then a truncated message before EOF.
        SessionSeed s(queues_cfg(1), 8, 0, {64, 1});
        qemu_connect(s);
        s.msg(Request::kSetVringCall, kAck, u64b(0), {kFdEvent, kFdEvent});
        s.msg(Request::kGetFeatures, kReq, {});
        s.msg(Request::kSetMemTable, kAck, mem_table({raw(plain_region()), raw(plain_region())}), {kFdPool0});
        s.msg(Request::kGetFeatures, kReq, {});
        s.msg(Request::kSetVringNum, kAck, state(7, 100));
        s.msg(Request::kSetMemTable, kAck, mem_table({raw(plain_region())}), {session_fd::kPool | 1});
        std::vector<uint8_t> tail = raw(Header{static_cast<uint32_t>(Request::kSetVringAddr), kVersion, 40});
        tail.resize(tail.size() + 20);
        s.raw_tail(tail);
        s.msg(Request::kGetFeatures, kReq, {}, {kFdDevNull});
        write_seed(t, "bad-framing", s.writer());
    }
    {
        // A front-end with an IOMMU (ACCESS_PLATFORM): ring and buffer
        // addresses are IOVAs, mapped by IOTLB updates (IOVA 0x10000000 + gpa),
        // then one of them invalidated under a running ring.
        SessionSeed s(queues_cfg(1), 8, 0, {64});
        qemu_connect(s);
        s.msg(Request::kSetFeatures, kAck, u64b(kFeatures | bit(kFeatureProtocolFeatures) | bit(virtio::kFAccessPlatform)));
        s.msg(Request::kSetMemTable, kAck, mem_table({raw(plain_region())}), {kFdPool0});
        constexpr uint64_t kIova = 0x10000000;
        s.msg(Request::kIotlbMsg, kReq, raw(IotlbMsg{kIova, kGuestBytes / 2, kUaddr, 3, 2, {}}));
        s.msg(Request::kIotlbMsg, kReq, raw(IotlbMsg{kIova + kGuestBytes / 2, kGuestBytes / 2, kUaddr + kGuestBytes / 2, 3, 2, {}}));
        // Descriptors carry IOVAs.
        auto table = cat({desc(kIova + hdr_gpa(0, 0), 16, virtio::kDescFNext, 1),
                          desc(kIova + data_gpa(0, 0), 4096, virtio::kDescFNext | virtio::kDescFWrite, 2),
                          desc(kIova + status_gpa(0, 0), 1, virtio::kDescFWrite, 0)});
        s.poke(desc_gpa(0), table);
        s.poke(hdr_gpa(0, 0), raw(virtio_blk_outhdr{VIRTIO_BLK_T_IN, 0, 0}));
        avail(s, 0, {0});
        s.msg(Request::kSetVringNum, kAck, state(0, kQsize));
        s.msg(Request::kSetVringBase, kAck, state(0, 0));
        s.msg(Request::kSetVringAddr, kAck,
              raw(VringAddr{0, 0, kIova + desc_gpa(0), kIova + used_gpa(0), kIova + avail_gpa(0), 0}));
        s.msg(Request::kSetVringKick, kAck, u64b(0), {kFdEvent});
        s.msg(Request::kSetVringEnable, kAck, state(0, 1));
        s.msg(Request::kIotlbMsg, kReq, raw(IotlbMsg{kIova + kGuestBytes / 2, kGuestBytes / 2, 0, 0, 3, {}}));
        s.kick(0);
        qemu_stop(s, 1);
        write_seed(t, "iotlb", s.writer());
    }
    {
        // A Xen worker (domid 7) with XEN_MMAP: 40-byte regions, one plain,
        // then a grant region whose fd is not gntdev.
        SessionSeed s(session_cfg::kXen | session_cfg::kXenHandles | session_cfg::kDomid | queues_cfg(1), 8, 7, {64});
        qemu_connect(s, true);
        s.msg(Request::kSetFeatures, kAck, u64b(kFeatures | bit(kFeatureProtocolFeatures)));
        s.msg(Request::kSetMemTable, kAck, mem_table({raw(XenMemoryRegion{plain_region(), 0, 7})}), {kFdPool0});
        const MemoryRegion grant{1ull << 63, 0x100000, 0, 0};
        s.msg(Request::kAddMemReg, kAck, cat({u64b(0), raw(XenMemoryRegion{grant, 0xa, 7})}), {kFdDevNull});
        blk_request(s, 0, 0, VIRTIO_BLK_T_IN, 0);
        avail(s, 0, {0});
        s.msg(Request::kSetVringNum, kAck, state(0, kQsize));
        s.msg(Request::kSetVringBase, kAck, state(0, 0));
        s.msg(Request::kSetVringAddr, kAck, vring_addr(0));
        s.msg(Request::kSetVringKick, kAck, u64b(0), {kFdEvent});
        s.msg(Request::kSetVringEnable, kAck, state(0, 1));
        qemu_stop(s, 1);
        write_seed(t, "xen-mmap", s.writer());
    }
}

// Minimal reproducers of bugs the fuzzers found (corpus/*/crash-*.bin); they
// stay in the corpus so `make test` replays them.
void session_reproducers() {
    const std::string t = "fuzz_session";
    {
        // A region whose mmap_offset is not page aligned (2): the guest
        // addresses of the rings are aligned, their host addresses are not,
        // and SplitRing::map reads the used index through a misaligned
        // atomic (UBSan: misaligned address for type Used; SIGBUS on arm64).
        SessionSeed s(queues_cfg(1), 8, 0, {64});
        s.msg(Request::kSetMemTable, kReq, mem_table({raw(MemoryRegion{0, 0x10000, kUaddr, 2})}), {kFdPool0});
        s.msg(Request::kSetVringNum, kReq, state(0, 8));
        s.msg(Request::kSetVringAddr, kReq, raw(VringAddr{0, 0, kUaddr + 0x1000, kUaddr + 0x3000, kUaddr + 0x2000, 0}));
        s.msg(Request::kSetVringKick, kReq, u64b(0), {kFdEvent});
        s.msg(Request::kSetFeatures, kReq, u64b(1ull << virtio::kFVersion1));
        write_seed(t, "crash-ring-misaligned-mmap-offset", s.writer(), "crash");
    }
    {
        // The same through the IOMMU: an IOTLB entry maps an aligned IOVA to
        // a user address 2 bytes off alignment.
        SessionSeed s(queues_cfg(1), 8, 0, {64});
        s.msg(Request::kSetFeatures, kReq,
              u64b(bit(kFeatureProtocolFeatures) | (1ull << virtio::kFVersion1) | bit(virtio::kFAccessPlatform)));
        s.msg(Request::kSetMemTable, kReq, mem_table({raw(MemoryRegion{0, 0x10000, kUaddr, 0})}), {kFdPool0});
        s.msg(Request::kIotlbMsg, kReq, raw(IotlbMsg{0, 0x8000, kUaddr + 2, 3, 2, {}}));
        s.msg(Request::kSetVringNum, kReq, state(0, 8));
        s.msg(Request::kSetVringAddr, kReq, raw(VringAddr{0, 0, 0x1000, 0x3000, 0x2000, 0}));
        s.msg(Request::kSetVringKick, kReq, u64b(0), {kFdEvent});
        s.msg(Request::kSetVringEnable, kReq, state(0, 1));
        write_seed(t, "crash-ring-misaligned-iotlb", s.writer(), "crash");
    }
}

// ---------------------------------------------------------------- fuzz_chain

class ChainSeed {
public:
    struct Region {
        uint32_t gpa_page;
        uint8_t pages;
        uint32_t file_offset;
    };
    ChainSeed(uint8_t flags, uint8_t log2, const std::vector<Region>& regions, uint64_t desc, uint64_t av,
              uint64_t used, uint16_t last_avail = 0) {
        w_.u8(flags).u8(log2).u8(static_cast<uint8_t>(regions.size() - 1));
        for (const auto& r : regions) w_.u32(r.gpa_page).u8(static_cast<uint8_t>(r.pages - 1)).u32(r.file_offset);
        w_.u64(desc).u64(av).u64(used).u16(last_avail);
    }
    // Writes at a memfd offset (the regions decide which guest address that is).
    ChainSeed& poke(uint32_t file_offset, const std::vector<uint8_t>& bytes) {
        w_.u8(chain_op::kPoke).u32(file_offset).blob(bytes);
        return *this;
    }
    ChainSeed& op(uint8_t o) {
        w_.u8(o);
        return *this;
    }
    ChainSeed& walk(uint16_t head) {
        w_.u8(chain_op::kWalk).u16(head);
        return *this;
    }
    const ByteWriter& writer() const { return w_; }

private:
    ByteWriter w_;
};

std::vector<uint8_t> avail_bytes(const std::vector<uint16_t>& heads, uint16_t idx) {
    std::vector<uint8_t> a = cat({raw(uint16_t{0}), raw(idx)});
    for (uint16_t h : heads) {
        auto b = raw(h);
        a.insert(a.end(), b.begin(), b.end());
    }
    return a;
}

void chain_seeds() {
    const std::string t = "fuzz_chain";
    // One region: gpa 0 = memfd 0, 32 pages; ring of 64 at 0x1000/0x1400/0x2000.
    const std::vector<ChainSeed::Region> one{{0, 32, 0}};
    {
        ChainSeed s(0, 6, one, 0x1000, 0x1400, 0x2000);
        s.poke(0x1000, cat({desc(0x4000, 16, virtio::kDescFNext, 1), desc(0x5000, 4096, virtio::kDescFNext | virtio::kDescFWrite, 2),
                            desc(0x6000, 1, virtio::kDescFWrite, 0)}));
        s.poke(0x1400, avail_bytes({0}, 1));
        s.op(chain_op::kProcess);
        s.poke(0x1400, avail_bytes({0, 0}, 2));
        s.op(chain_op::kProcess).op(chain_op::kArmKick).op(chain_op::kRemap);
        write_seed(t, "direct", s.writer());
    }
    {
        // Indirect table, event idx, a second chain of one descriptor.
        ChainSeed s(3, 6, one, 0x1000, 0x1400, 0x2000);
        s.poke(0x3000, cat({desc(0x4000, 16, virtio::kDescFNext, 1), desc(0x5000, 512, virtio::kDescFNext, 2),
                            desc(0x6000, 1, virtio::kDescFWrite, 0)}));
        s.poke(0x1000, cat({desc(0x3000, 48, virtio::kDescFIndirect, 0), desc(0x7000, 100, 0, 0)}));
        s.poke(0x1400, avail_bytes({0, 1}, 2));
        s.op(chain_op::kProcess).op(chain_op::kArmKick);
        write_seed(t, "indirect-event-idx", s.writer());
    }
    {
        // Two adjacent regions at different memfd offsets, a buffer and an
        // indirect table straddling the boundary, and a third region past a gap.
        const std::vector<ChainSeed::Region> three{{0, 8, 0}, {8, 8, 0x10000}, {0x100, 4, 0x8000}};
        ChainSeed s(1, 4, three, 0x1000, 0x1200, 0x1400);
        // Guest 0x7ff0 is memfd 0x7ff0 (region 0); guest 0x8000 is memfd 0x10000 (region 1).
        s.poke(0x7ff0, desc(0x100000, 16, virtio::kDescFNext, 1));
        s.poke(0x10000, cat({desc(0x7f00, 0x200, virtio::kDescFNext | virtio::kDescFWrite, 2),
                             desc(0x100100, 1, virtio::kDescFWrite, 0)}));
        s.poke(0x1000, desc(0x7ff0, 48, virtio::kDescFIndirect, 0));
        s.poke(0x1200, avail_bytes({0}, 1));
        s.op(chain_op::kProcess);
        write_seed(t, "regions-straddle", s.writer());
    }
    {
        // A loop (0 -> 1 -> 0), a chain longer than the ring, then the driver
        // rewrites the descriptor between two walks.
        ChainSeed s(0, 2, one, 0x1000, 0x1400, 0x2000);
        s.poke(0x1000, cat({desc(0x4000, 8, virtio::kDescFNext, 1), desc(0x5000, 8, virtio::kDescFNext, 0)}));
        s.walk(0);
        s.poke(0x1010, desc(0x5000, 8, virtio::kDescFWrite, 0));
        s.walk(0).walk(1).walk(9);
        s.poke(0x1400, avail_bytes({0, 1, 0, 1}, 4));
        s.op(chain_op::kProcess);
        write_seed(t, "loop-and-rewrite", s.writer());
    }
    {
        // Full ring (avail == size), then an index that jumps past the ring.
        ChainSeed s(0, 2, one, 0x1000, 0x1400, 0x2000);
        s.poke(0x1000, cat({desc(0x4000, 8, 0, 0), desc(0x4100, 8, 0, 0), desc(0x4200, 8, 0, 0), desc(0x4300, 8, 0, 0)}));
        s.poke(0x1400, avail_bytes({0, 1, 2, 3}, 4));
        s.op(chain_op::kProcess);
        s.poke(0x1400, avail_bytes({0, 1, 2, 3}, 13));
        s.op(chain_op::kProcess);
        write_seed(t, "full-ring", s.writer());
    }
    {
        // Reproducer: a region mapped from memfd offset 2, so aligned guest
        // addresses land on misaligned host addresses.
        ChainSeed s(0, 3, {{0, 16, 2}}, 0x1000, 0x1200, 0x1400);
        write_seed(t, "crash-ring-misaligned-mmap-offset", s.writer(), "crash");
    }
}

// ---------------------------------------------------------------- fuzz_queue_engine

class EngineSeed {
public:
    EngineSeed(uint8_t flags, uint8_t log2, uint32_t desc, uint32_t av, uint32_t used, uint8_t revoked_page = 0,
               uint8_t revoked_pages = 0) {
        w_.u8(flags).u8(log2).u32(desc).u32(av).u32(used).u16(0).u8(revoked_page).u8(revoked_pages);
    }
    EngineSeed& poke(uint32_t gpa, const std::vector<uint8_t>& bytes) {
        w_.u8(engine_op::kPoke).u32(gpa).blob(bytes);
        return *this;
    }
    EngineSeed& op(uint8_t o) {
        w_.u8(o);
        return *this;
    }
    EngineSeed& complete(uint16_t pick, uint32_t written) {
        w_.u8(engine_op::kComplete).u16(pick).u32(written);
        return *this;
    }
    const ByteWriter& writer() const { return w_; }

private:
    ByteWriter w_;
};

void engine_seeds() {
    const std::string t = "fuzz_queue_engine";
    // Three 4 KiB reads (header, data, status) at heads 0, 3, 6 of a ring of 16.
    auto reads = [](EngineSeed& s) {
        for (uint16_t h = 0; h < 3; ++h) {
            const uint64_t a = 0x4000 + h * 0x3000;
            s.poke(0x1000 + 16 * 3 * h,
                   cat({desc(a, 16, virtio::kDescFNext, static_cast<uint16_t>(3 * h + 1)),
                        desc(a + 0x1000, 4096, virtio::kDescFNext | virtio::kDescFWrite, static_cast<uint16_t>(3 * h + 2)),
                        desc(a + 0x2000, 1, virtio::kDescFWrite, 0)}));
        }
    };
    {
        EngineSeed s(0, 4, 0x1000, 0x2000, 0x3000);
        reads(s);
        s.poke(0x2000, avail_bytes({0, 3, 6}, 3));
        s.op(engine_op::kProcess).complete(1, 4097).complete(0, 1).op(engine_op::kPublish);
        s.complete(0, 4096).op(engine_op::kPublish).op(engine_op::kRemap).op(engine_op::kStop);
        write_seed(t, "out-of-order", s.writer());
    }
    {
        // EVENT_IDX, the device answering unmapped requests, head 3's data page revoked.
        EngineSeed s(6, 4, 0x1000, 0x2000, 0x3000, 8, 1);
        reads(s);
        s.poke(0x2000, avail_bytes({0, 3, 6}, 3));
        s.op(engine_op::kProcess).complete(0, 1).complete(0, 1).complete(0, 1).op(engine_op::kPublish);
        s.poke(0x2000, avail_bytes({0, 3, 6, 0}, 4));
        s.op(engine_op::kProcess).op(engine_op::kPublish);
        write_seed(t, "revoked-event-idx", s.writer());
    }
    {
        // A head made available twice while in flight, then a buffer outside guest memory.
        EngineSeed s(1, 3, 0x1000, 0x2000, 0x3000);
        reads(s);
        s.poke(0x2000, avail_bytes({0, 0}, 2));
        s.op(engine_op::kProcess).complete(0, 0).op(engine_op::kPublish);
        s.poke(0x1000 + 16 * 3, desc(0x7fff0000, 16, 0, 0));
        s.poke(0x2000, avail_bytes({0, 0, 3}, 3));
        s.op(engine_op::kProcess).op(engine_op::kPublish);
        write_seed(t, "guest-faults", s.writer());
    }
}

// ---------------------------------------------------------------- fuzz_blk_request

class BlkSeed {
public:
    BlkSeed(uint64_t capacity, uint8_t log2_block, bool ro, uint32_t max_discard, uint32_t max_wz, uint8_t nout,
            uint8_t nin) {
        w_.u64(capacity).u8(static_cast<uint8_t>(log2_block - 9)).u8(ro ? 1 : 0).u32(max_discard).u32(max_wz);
        w_.u8(nout).u8(nin);
    }
    BlkSeed& out(uint16_t len, const std::vector<uint8_t>& content = {}) {
        w_.u16(len);
        std::vector<uint8_t> c = content;
        c.resize(std::min<size_t>(len, 4096));
        w_.bytes(c);
        return *this;
    }
    BlkSeed& huge_out(uint16_t units, const std::vector<uint8_t>& content) {
        w_.u16(static_cast<uint16_t>(kBlkHuge | units));
        std::vector<uint8_t> c = content;
        c.resize(4096);
        w_.bytes(c);
        return *this;
    }
    BlkSeed& in(uint16_t spec) {
        w_.u16(spec);
        return *this;
    }
    const ByteWriter& writer() const { return w_; }

private:
    ByteWriter w_;
};

std::vector<uint8_t> outhdr(uint32_t type, uint64_t sector) { return raw(virtio_blk_outhdr{type, 0, sector}); }
std::vector<uint8_t> segment(uint64_t sector, uint32_t n, uint32_t flags) {
    return raw(virtio_blk_discard_write_zeroes{sector, n, flags});
}

void blk_seeds() {
    const std::string t = "fuzz_blk_request";
    const uint64_t cap = 2048;  // 1 MiB
    write_seed(t, "read", BlkSeed(cap, 9, false, 0, 0, 1, 2).out(16, outhdr(VIRTIO_BLK_T_IN, 8)).in(4096).in(1).writer());
    write_seed(t, "read-4k-block",
               BlkSeed(cap, 12, false, 0, 0, 1, 3).out(16, outhdr(VIRTIO_BLK_T_IN, 8)).in(2048).in(2048).in(1).writer());
    write_seed(t, "write", BlkSeed(cap, 9, false, 0, 0, 2, 1).out(16, outhdr(VIRTIO_BLK_T_OUT, 2040)).out(4096).in(1).writer());
    write_seed(t, "write-split-header",
               BlkSeed(cap, 9, false, 0, 0, 3, 1).out(8, outhdr(VIRTIO_BLK_T_OUT, 0)).out(1032, {0, 0, 0, 0, 0, 0, 0, 0}).out(0).in(1).writer());
    write_seed(t, "write-read-only",
               BlkSeed(cap, 9, true, 0, 0, 2, 1).out(16, outhdr(VIRTIO_BLK_T_OUT, 0)).out(512).in(1).writer());
    write_seed(t, "flush", BlkSeed(cap, 9, false, 0, 0, 1, 1).out(16, outhdr(VIRTIO_BLK_T_FLUSH, 0)).in(1).writer());
    write_seed(t, "get-id", BlkSeed(cap, 9, false, 0, 0, 1, 2).out(16, outhdr(VIRTIO_BLK_T_GET_ID, 0)).in(20).in(1).writer());
    write_seed(t, "get-id-tiny", BlkSeed(cap, 9, false, 0, 0, 1, 1).out(16, outhdr(VIRTIO_BLK_T_GET_ID, 0)).in(4).writer());
    write_seed(t, "discard",
               BlkSeed(cap, 9, false, 0x3fffff, 0x3fffff, 1, 1)
                   .out(32, cat({outhdr(VIRTIO_BLK_T_DISCARD, 0), segment(16, 64, 0)}))
                   .in(1)
                   .writer());
    write_seed(t, "write-zeroes-unmap",
               BlkSeed(cap, 9, false, 0x3fffff, 0x3fffff, 2, 1)
                   .out(16, outhdr(VIRTIO_BLK_T_WRITE_ZEROES, 0))
                   .out(16, segment(2000, 48, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
                   .in(1)
                   .writer());
    write_seed(t, "discard-two-segments",
               BlkSeed(cap, 9, false, 0x3fffff, 0x3fffff, 1, 1)
                   .out(48, cat({outhdr(VIRTIO_BLK_T_DISCARD, 0), segment(0, 8, 0), segment(8, 8, 0)}))
                   .in(1)
                   .writer());
    write_seed(t, "unknown-type", BlkSeed(cap, 9, false, 0, 0, 1, 1).out(16, outhdr(99, 0)).in(1).writer());
    write_seed(t, "no-status", BlkSeed(cap, 9, false, 0, 0, 1, 0).out(16, outhdr(VIRTIO_BLK_T_IN, 0)).writer());
    write_seed(t, "sector-overflow",
               BlkSeed(~0ull >> 9, 9, false, 0, 0, 1, 2).out(16, outhdr(VIRTIO_BLK_T_IN, ~0ull - 1)).in(1024).in(1).writer());
    write_seed(t, "huge-write",
               BlkSeed(~0ull >> 9, 9, false, 0, 0, 1, 1).huge_out(0x100, outhdr(VIRTIO_BLK_T_OUT, 0)).in(1).writer());
    write_seed(t, "status-aliases-header",
               BlkSeed(cap, 9, false, 0, 0, 1, 1).out(16, outhdr(VIRTIO_BLK_T_FLUSH, 0)).in(kBlkAlias).writer());
}

// ---------------------------------------------------------------- fuzz_xen_regions

void xen_seeds() {
    const std::string t = "fuzz_xen_regions";
    {
        ByteWriter w;
        w.u8(xen_part::kFlagsPages);
        const uint64_t g = 1ull << 63;
        const struct {
            uint32_t flags;
            uint8_t kind;
            uint64_t addr, len;
        } cases[] = {{0x1, 1, 0x40000000, 0x3000},   {0x2, 2, g | (77ull << 12) | 0x800, 0x1000},
                     {0xa, 2, g | 0x5000, 16},       {0x102, 2, g | (0xffffffffull << 12), 0x1000},
                     {0x3, 2, 0x1000, 16},           {0x8, 1, ~0ull - 8, 16},
                     {0x104, 0, 0x12345678, 0x2000}, {0x0, 2, g - 16, 32}};
        for (const auto& c : cases) w.u32(c.flags).u8(c.kind).u64(c.addr).u64(c.len);
        write_seed(t, "flags-pages", w);
    }
    {
        // A plain region for the rings next to grant and foreign regions.
        ByteWriter w;
        w.u8(xen_part::kMemory).u8(2);
        w.u8(0).u32(7).u64(0x100000).u8(15);         // plain, 16 pages
        w.u8(2).u32(7).u64(1ull << 63).u8(15);       // grant, 16 pages
        w.u8(1).u32(7).u64(0x40000000).u8(3);        // foreign, 4 pages
        w.u8(0).u64(0x100000).u32(0x1000).u8(1);     // map_ring in plain memory
        w.u8(0).u64(1ull << 63).u32(0x800).u8(0);    // map_ring in grant memory
        w.u8(1).u64(0x10fff0).u16(0x20);             // read across the end of plain memory
        w.u8(2).u8(1);                               // map_buffers of two buffers: plain, grant
        w.u64(0x100800).u32(0x1000).u8(0);
        w.u64((1ull << 63) | 0x2000).u32(0x200).u8(1);
        write_seed(t, "xen-memory", w);
    }
    {
        // What xen-vhost-frontend sends in grant mode, then a plain table the rings use.
        ByteWriter w;
        w.u8(xen_part::kSession).u8(xen_cfg::kHandles | xen_cfg::kXenMmap | xen_cfg::kDomid | xen_cfg::kLayout40).u16(5);
        auto region = [&](uint64_t gpa, uint32_t size, uint64_t uaddr, uint32_t flags, uint32_t domid, uint8_t fd) {
            w.u64(gpa).u32(size).u64(uaddr).u32(0).u32(flags).u32(domid).u8(fd);
        };
        const uint64_t g = 1ull << 63;
        w.u8(0).u8(3);  // SET_MEM_TABLE: rings (0x2) and the rest (0xa), fds /dev/null
        region(g, 0x3000, 0x7f0000000000, 0x2, 5, 2);
        region(g + 0x3000, 0x100000, 0, 0xa, 5, 2);
        region(0x40000000, 0x100000, 0x7f1000000000, 0x1, 5, 1);
        w.u8(0).u8(1);  // a plain table over the memfd
        region(0, 64 * 4096, 0x7f2000000000, 0, 5, 0);
        w.u8(4).u32(0x1400).blob(avail_bytes({0}, 1));
        w.u8(4).u32(0x1000).blob(cat({desc(0x4000, 16, virtio::kDescFNext, 1), desc(0x5000, 1, virtio::kDescFWrite, 0)}));
        w.u8(3).u8(0).u16(64).u64(0x7f2000001000).u64(0x7f2000001400).u64(0x7f2000002000);
        w.u8(1);  // ADD_MEM_REG of a grant region with a memfd
        region(g + 0x200000, 0x10000, 0x7f3000000000, 0x2, 5, 0);
        w.u8(2);  // REM_MEM_REG of the plain region
        region(0, 64 * 4096, 0x7f2000000000, 0, 5, 0);
        write_seed(t, "session-grant", w);
    }
    {
        // A 32-byte table after XEN_MMAP (stock QEMU acks bit 17 and sends these).
        ByteWriter w;
        w.u8(xen_part::kSession).u8(xen_cfg::kXenMmap).u16(0);
        w.u8(0).u8(1).u64(0).u32(64 * 4096).u64(0x7f2000000000).u32(0).u32(0).u32(0).u8(0);
        write_seed(t, "session-32-byte-layout", w);
    }
}

// ---------------------------------------------------------------- fuzz_xenstore_entry

void entry_seed(const std::string& name, uint8_t kind, uint16_t domid, uint16_t devid,
                const std::vector<std::pair<std::string, std::string>>& keys) {
    ByteWriter w;
    w.u8(kind).u16(domid).u16(devid);
    for (const auto& [k, v] : keys) w.u8(kEntryCustomKey).str8(k).str8(v);
    write_seed("fuzz_xenstore_entry", name, w);
}

void entry_seeds() {
    entry_seed("disk-4.17", 0, 5, 51712,
               {{"frontend", "/local/domain/5/device/virtio_disk/51712"}, {"params", "/srv/g.img"}, {"frontend-id", "5"},
                {"online", "1"}, {"removable", "0"}, {"bootable", "1"}, {"state", "1"}, {"dev", "xvda"},
                {"type", "standalone"}, {"mode", "w"}, {"device-type", "disk"}, {"discard-enable", "1"},
                {"specification", "virtio"}, {"transport", "mmio"}, {"base", "0"}, {"irq", "0"}});
    entry_seed("disk-4.19-cdrom", 0, 12, 768,
               {{"params", "/srv/cd.iso"}, {"frontend-id", "12"}, {"dev", "hdc"}, {"type", "standalone"}, {"mode", "r"},
                {"device-type", "cdrom"}, {"discard-enable", "0"}, {"specification", "virtio"}, {"transport", "mmio"},
                {"grant_usage", "1"}, {"base", "33554432"}, {"irq", "33"}});
    entry_seed("virtio-4.18", 1, 5, 0,
               {{"frontend-id", "5"}, {"type", "virtio,device2"}, {"transport", "mmio"}, {"grant_usage", "1"},
                {"base", "0x2000000"}, {"irq", "33"}, {"params", "/srv/v.img"}});
    entry_seed("virtio-no-params", 1, 9, 1,
               {{"frontend-id", "9"}, {"type", "virtio,device1a"}, {"transport", "mmio"}, {"base", "0x2000200"},
                {"irq", "034"}});
    entry_seed("disk-bad-values", 0, 3, 51728,
               {{"params", "srv/relative.img"}, {"frontend-id", "03"}, {"mode", "rw"}, {"base", "0x"}, {"irq", "4294967296"}});
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make-seeds CORPUS_DIR\n");
        return 2;
    }
    g_root = argv[1];
    session_seeds();
    session_reproducers();
    chain_seeds();
    engine_seeds();
    blk_seeds();
    xen_seeds();
    entry_seeds();
    std::printf("make-seeds: %d seeds written under %s\n", g_written, g_root.c_str());
    return 0;
}
