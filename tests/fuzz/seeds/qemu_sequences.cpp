// The QEMU sequences of qemu_sequences.hpp, over the guest of guest_layout.hpp.

#include "seeds/qemu_sequences.hpp"

#include "seeds/guest_layout.hpp"

namespace xenvhost::fuzz::seeds {
using namespace vhost_user;

namespace {

uint64_t offered_protocol(bool xen) {
    using namespace protocol_feature;
    uint64_t f = bit(kMq) | bit(kReplyAck) | bit(kConfig) | bit(kConfigureMemSlots) | bit(kResetDevice) |
                 bit(kStatus) | bit(kInflightShmfd);
    if (xen) f |= bit(kXenMmap);
    return f;
}

}  // namespace

void qemu_connect(SessionSeed& s, bool xen) {
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

void qemu_start(SessionSeed& s, unsigned queues, bool add_mem_reg, InflightStep inflight) {
    if (inflight != InflightStep::kNone) {
        const auto n = static_cast<uint16_t>(queues);
        if (inflight == InflightStep::kGetAndSet)
            s.msg(Request::kGetInflightFd, kReq, raw(Inflight{0, 0, n, kQsize, {}}));
        // The area: one 64-byte aligned stride per queue of 16 + 16*128 bytes.
        const uint64_t stride = (16 + 16 * kQsize + 63) & ~63ull;
        s.msg(Request::kSetInflightFd, kAck, raw(Inflight{stride * queues, 0, n, kQsize, {}}),
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

}  // namespace xenvhost::fuzz::seeds
