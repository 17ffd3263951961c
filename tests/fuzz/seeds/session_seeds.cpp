// fuzz_session seeds: the message sequences QEMU 7.2's vhost-user-blk sends
// (1 and 2 queues, a memory table or ADD_MEM_REG, inflight areas, kicks on
// valid rings), plus reconnects, resets, broken framing, an IOMMU and a Xen
// front-end. One function a scenario, each writing one seed.

#include "seeds/guest_layout.hpp"
#include "seeds/qemu_sequences.hpp"
#include "seeds/ring_bytes.hpp"
#include "seeds/session_seed.hpp"
#include "seeds/target_seeds.hpp"

#include <string>

namespace xenvhost::fuzz::seeds {
using namespace vhost_user;

namespace {

const std::string kTarget = "fuzz_session";

// Ring 0 started by hand, as front-ends other than QEMU's blk start do:
// size, base, the given SET_VRING_ADDR payload, kick, enable.
void start_ring0(SessionSeed& s, const std::vector<uint8_t>& addr) {
    s.msg(Request::kSetVringNum, kAck, state(0, kQsize));
    s.msg(Request::kSetVringBase, kAck, state(0, 0));
    s.msg(Request::kSetVringAddr, kAck, addr);
    s.msg(Request::kSetVringKick, kAck, u64b(0), {kFdEvent});
    s.msg(Request::kSetVringEnable, kAck, state(0, 1));
}

void qemu_blk_1q() {
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
    write_seed(kTarget, "qemu-blk-1q", s.writer());
}

void qemu_blk_2q_add_mem_reg() {
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
    write_seed(kTarget, "qemu-blk-2q-add-mem-reg", s.writer());
}

// The back-end restarts with requests in flight: same inflight area, new connection.
void reconnect_inflight() {
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
    write_seed(kTarget, "reconnect-inflight", s.writer());
}

// A driver with indirect descriptors and EVENT_IDX.
void indirect() {
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
    write_seed(kTarget, "indirect", s.writer());
}

// A front-end without PROTOCOL_FEATURES: rings enabled by SET_FEATURES.
void no_protocol_features() {
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
    write_seed(kTarget, "no-protocol-features", s.writer());
}

// Resets, status, config writes, memory removal while stopped.
void resets() {
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
    write_seed(kTarget, "resets", s.writer());
}

// Framing a back-end must survive: too many fds, a mismatched table,
// an out-of-range ring, then a truncated message before EOF.
void bad_framing() {
    SessionSeed s(queues_cfg(1), 8, 0, {64, 1});
    qemu_connect(s);
    s.msg(Request::kSetVringCall, kAck, u64b(0), {kFdEvent, kFdEvent});
    s.msg(Request::kGetFeatures, kReq, {});
    const auto two = mem_table({raw(plain_region()), raw(plain_region())});
    s.msg(Request::kSetMemTable, kAck, two, {kFdPool0});
    s.msg(Request::kGetFeatures, kReq, {});
    s.msg(Request::kSetVringNum, kAck, state(7, 100));
    s.msg(Request::kSetMemTable, kAck, mem_table({raw(plain_region())}), {session_fd::kPool | 1});
    std::vector<uint8_t> tail =
        raw(Header{static_cast<uint32_t>(Request::kSetVringAddr), kVersion, 40});
    tail.resize(tail.size() + 20);
    s.raw_tail(tail);
    s.msg(Request::kGetFeatures, kReq, {}, {kFdDevNull});
    write_seed(kTarget, "bad-framing", s.writer());
}

// A front-end with an IOMMU (ACCESS_PLATFORM): ring and buffer addresses
// are IOVAs, mapped by IOTLB updates (IOVA 0x10000000 + gpa), then one of
// them invalidated under a running ring.
void iotlb() {
    SessionSeed s(queues_cfg(1), 8, 0, {64});
    qemu_connect(s);
    const uint64_t features = kFeatures | bit(kFeatureProtocolFeatures) | bit(virtio::kFAccessPlatform);
    s.msg(Request::kSetFeatures, kAck, u64b(features));
    s.msg(Request::kSetMemTable, kAck, mem_table({raw(plain_region())}), {kFdPool0});
    constexpr uint64_t kIova = 0x10000000;
    constexpr uint64_t kHalf = kGuestBytes / 2;
    s.msg(Request::kIotlbMsg, kReq, raw(IotlbMsg{kIova, kHalf, kUaddr, 3, 2, {}}));
    s.msg(Request::kIotlbMsg, kReq, raw(IotlbMsg{kIova + kHalf, kHalf, kUaddr + kHalf, 3, 2, {}}));
    // Descriptors carry IOVAs.
    auto table = cat({desc(kIova + hdr_gpa(0, 0), 16, virtio::kDescFNext, 1),
                      desc(kIova + data_gpa(0, 0), 4096, virtio::kDescFNext | virtio::kDescFWrite, 2),
                      desc(kIova + status_gpa(0, 0), 1, virtio::kDescFWrite, 0)});
    s.poke(desc_gpa(0), table);
    s.poke(hdr_gpa(0, 0), raw(virtio_blk_outhdr{VIRTIO_BLK_T_IN, 0, 0}));
    avail(s, 0, {0});
    start_ring0(s, raw(VringAddr{0, 0, kIova + desc_gpa(0), kIova + used_gpa(0),
                                 kIova + avail_gpa(0), 0}));
    s.msg(Request::kIotlbMsg, kReq, raw(IotlbMsg{kIova + kHalf, kHalf, 0, 0, 3, {}}));
    s.kick(0);
    qemu_stop(s, 1);
    write_seed(kTarget, "iotlb", s.writer());
}

// A Xen worker (domid 7) with XEN_MMAP: 40-byte regions, one plain, then a
// grant region whose fd is not gntdev.
void xen_mmap() {
    const uint8_t cfg = session_cfg::kXen | session_cfg::kXenHandles | session_cfg::kDomid;
    SessionSeed s(cfg | queues_cfg(1), 8, 7, {64});
    qemu_connect(s, true);
    s.msg(Request::kSetFeatures, kAck, u64b(kFeatures | bit(kFeatureProtocolFeatures)));
    const auto plain = raw(XenMemoryRegion{plain_region(), 0, 7});
    s.msg(Request::kSetMemTable, kAck, mem_table({plain}), {kFdPool0});
    const MemoryRegion grant{1ull << 63, 0x100000, 0, 0};
    s.msg(Request::kAddMemReg, kAck, cat({u64b(0), raw(XenMemoryRegion{grant, 0xa, 7})}), {kFdDevNull});
    blk_request(s, 0, 0, VIRTIO_BLK_T_IN, 0);
    avail(s, 0, {0});
    start_ring0(s, vring_addr(0));
    qemu_stop(s, 1);
    write_seed(kTarget, "xen-mmap", s.writer());
}

}  // namespace

void session_seeds() {
    qemu_blk_1q();
    qemu_blk_2q_add_mem_reg();
    reconnect_inflight();
    indirect();
    no_protocol_features();
    resets();
    bad_framing();
    iotlb();
    xen_mmap();
}

}  // namespace xenvhost::fuzz::seeds
