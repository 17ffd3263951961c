#include "vhost_user/backend_session.hpp"

#include "base/log.hpp"
#include "memory/plain_memory.hpp"
#include "virtio/ring_layout.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cstring>

namespace xenvhost::vhost_user {
namespace {

template <typename T>
T read_payload(const Message& m) {
    T v;
    std::memcpy(&v, m.payload.data(), sizeof v);
    return v;
}

}  // namespace

BackendSession::BackendSession(Connection& conn, devices::Device& device, VringRunner& runner,
                               SessionOptions options)
    : conn_(conn), device_(device), runner_(runner), options_(options), vrings_(device.num_queues()) {}

BackendSession::~BackendSession() { reset(); }

uint64_t BackendSession::offered_protocol_features() const {
    using namespace protocol_feature;
    uint64_t f = bit(kMq) | bit(kReplyAck) | bit(kConfig) | bit(kConfigureMemSlots) |
                 bit(kResetDevice) | bit(kStatus) | bit(kInflightShmfd) | bit(kBackendReq) | bit(kShmem);
    // Stock QEMU acks bit 17 without sending Xen regions, so it is offered
    // only when this worker serves a Xen guest.
    if (options_.xen) f |= bit(kXenMmap);
    return f;
}

const char* BackendSession::memory_mode() const {
    return memory_ ? memory_->mode().data() : "none";
}

void BackendSession::reset() {
    for (uint16_t i = 0; i < vrings_.size(); ++i) stop_ring(i);
    for (auto& v : vrings_) v = Vring{};
    memory_.reset();
    table_ = memory::RegionTable();
    // Rings are gone, so the runner holds no memory either.
    (void)runner_.set_memory(nullptr);
}

void BackendSession::stop_ring(uint16_t index) {
    Vring& v = vrings_[index];
    if (v.running) {
        v.base = runner_.stop(index);
        v.running = false;
    }
}

Result<BackendSession::Vring*> BackendSession::vring(uint32_t index) {
    if (index >= vrings_.size()) return fail("ring index {} out of range (device has {})", index, vrings_.size());
    return &vrings_[index];
}

Result<> BackendSession::handle(Message& msg) {
    auto spec = validate(msg.header, msg.fds.size());
    if (!spec) return std::unexpected(spec.error());
    const bool wants_ack = has_protocol_feature(protocol_feature::kReplyAck) &&
                           (msg.header.flags & kFlagNeedReply) && (*spec)->reply == ReplyKind::kNone;
    auto outcome = dispatch(msg, **spec);
    if (!outcome) {
        // Tell a front-end that asked, then close.
        if (wants_ack) (void)conn_.reply_u64(msg.header.request, 1);
        return fail("{}: {}", (*spec)->name, outcome.error().message);
    }
    if (*outcome == Outcome::kRefused) {
        if ((*spec)->reply == ReplyKind::kAlways) return send_refusal(msg);
        if (!wants_ack)
            log::warn("{} refused; the front-end did not ask for an acknowledgement", (*spec)->name);
    }
    if (wants_ack) return conn_.reply_u64(msg.header.request, *outcome == Outcome::kOk ? 0 : 1);
    return {};
}

// A reply body that says "failed" for each message that always has a reply.
Result<> BackendSession::send_refusal(const Message& msg) {
    const uint32_t id = msg.header.request;
    switch (static_cast<Request>(id)) {
        case Request::kGetConfig: return conn_.reply(id, {});  // empty payload = error
        case Request::kGetInflightFd: {
            Inflight none{};  // mmap_size 0: no inflight area
            return conn_.reply(id, {reinterpret_cast<const uint8_t*>(&none), sizeof none});
        }
        case Request::kCreateCryptoSession: {
            std::vector<uint8_t> body = msg.payload;
            if (body.size() >= 8) {
                int64_t invalid = -1;
                std::memcpy(body.data(), &invalid, sizeof invalid);
            }
            return conn_.reply(id, body);
        }
        case Request::kSetDeviceStateFd: return conn_.reply_u64(id, 1 | 0x100);  // error, no fd
        default: return conn_.reply_u64(id, 1);
    }
}

BackendSession::HandlerResult BackendSession::dispatch(Message& msg, const MessageSpec& spec) {
    using namespace protocol_feature;
    const auto id = static_cast<Request>(msg.header.request);
    auto needs = [&](unsigned feature) { return has_protocol_feature(feature); };
    switch (id) {
        case Request::kGetFeatures: {
            uint64_t f = device_.features() | bit(kFeatureProtocolFeatures) | bit(virtio::kFAccessPlatform);
            if (auto r = conn_.reply_u64(msg.header.request, f); !r) return std::unexpected(r.error());
            return Outcome::kOk;
        }
        case Request::kSetFeatures: return set_features(read_payload<uint64_t>(msg));
        case Request::kGetProtocolFeatures: {
            if (auto r = conn_.reply_u64(msg.header.request, offered_protocol_features()); !r)
                return std::unexpected(r.error());
            return Outcome::kOk;
        }
        case Request::kSetProtocolFeatures: return set_protocol_features(read_payload<uint64_t>(msg));
        case Request::kSetOwner: return Outcome::kOk;
        case Request::kResetOwner:
            reset();
            acked_features_ = 0;
            features_set_ = false;
            return Outcome::kOk;
        case Request::kResetDevice:
            if (!needs(kResetDevice)) return Outcome::kRefused;
            reset();
            acked_features_ = 0;
            features_set_ = false;
            status_ = 0;
            return Outcome::kOk;
        case Request::kGetQueueNum: {
            if (auto r = conn_.reply_u64(msg.header.request, device_.num_queues()); !r)
                return std::unexpected(r.error());
            return Outcome::kOk;
        }
        case Request::kGetMaxMemSlots: {
            if (!needs(kConfigureMemSlots)) return Outcome::kRefused;
            if (auto r = conn_.reply_u64(msg.header.request, memory::kMaxRegions); !r)
                return std::unexpected(r.error());
            return Outcome::kOk;
        }
        case Request::kSetMemTable: return set_mem_table(msg);
        case Request::kAddMemReg:
            if (!needs(kConfigureMemSlots)) return Outcome::kRefused;
            return add_mem_reg(msg);
        case Request::kRemMemReg:
            if (!needs(kConfigureMemSlots)) return Outcome::kRefused;
            return rem_mem_reg(msg);
        case Request::kSetVringNum: return set_vring_num(read_payload<VringState>(msg));
        case Request::kSetVringAddr: return set_vring_addr(read_payload<VringAddr>(msg));
        case Request::kSetVringBase: return set_vring_base(read_payload<VringState>(msg));
        case Request::kGetVringBase: return get_vring_base(read_payload<VringState>(msg));
        case Request::kSetVringKick:
        case Request::kSetVringCall:
        case Request::kSetVringErr: return set_vring_fd(msg, id);
        case Request::kSetVringEnable:
            // Without PROTOCOL_FEATURES there is no REPLY_ACK either, so only
            // closing the connection tells the front-end it broke the rules.
            if (!(acked_features_ & bit(kFeatureProtocolFeatures)) && features_set_)
                return fail("not allowed without VHOST_USER_F_PROTOCOL_FEATURES");
            return set_vring_enable(read_payload<VringState>(msg));
        case Request::kGetConfig:
            if (!needs(kConfig)) return Outcome::kRefused;
            return get_config(msg);
        case Request::kSetConfig:
            if (!needs(kConfig)) return Outcome::kRefused;
            return set_config(msg);
        case Request::kSetStatus:
            if (!needs(kStatus)) return Outcome::kRefused;
            status_ = static_cast<uint8_t>(read_payload<uint64_t>(msg));
            return Outcome::kOk;
        case Request::kGetInflightFd:
            if (!needs(kInflightShmfd)) return Outcome::kRefused;
            return get_inflight_fd(msg);
        case Request::kSetInflightFd:
            if (!needs(kInflightShmfd)) return Outcome::kRefused;
            return set_inflight_fd(msg);
        case Request::kSetBackendReqFd:
            if (!needs(kBackendReq)) return Outcome::kRefused;
            channel_ = std::make_shared<BackendChannel>(std::move(msg.fds[0]), needs(kReplyAck));
            // A MISS asks for no answer (as DPDK sends it): the UPDATE on the
            // front-end socket is the answer, and the asking queue thread
            // keeps reaping its requests while it waits for it (WaitWork).
            iotlb_->set_miss_handler([channel = channel_](uint64_t iova, uint8_t perm) {
                IotlbMsg miss{iova, 0, 0, perm, 1 /* MISS */, {}};
                log::debug("IOTLB miss for {:#x} perm {}", iova, perm);
                if (auto r = channel->notify(BackendRequest::kIotlbMsg,
                                              {reinterpret_cast<const uint8_t*>(&miss), sizeof miss});
                    !r)
                    log::warn("IOTLB miss for {:#x} not delivered: {}", iova, r.error().message);
            });
            return Outcome::kOk;
        case Request::kIotlbMsg: return iotlb_msg(msg);
        case Request::kGetShmemConfig: {
            if (!needs(kShmem)) return Outcome::kRefused;
            ShmemConfig cfg{};
            auto regions = device_.shared_memory_regions();
            cfg.nregions = static_cast<uint32_t>(std::min<size_t>(regions.size(), 256));
            for (uint32_t i = 0; i < cfg.nregions; ++i) cfg.mem_sizes[i] = regions[i];
            if (auto r = conn_.reply(msg.header.request, {reinterpret_cast<const uint8_t*>(&cfg), sizeof cfg}); !r)
                return std::unexpected(r.error());
            return Outcome::kOk;
        }
        case Request::kGetStatus: {
            if (!needs(kStatus)) return Outcome::kRefused;
            if (auto r = conn_.reply_u64(msg.header.request, status_); !r) return std::unexpected(r.error());
            return Outcome::kOk;
        }
        default:
            // Valid messages of features this back-end does not offer: the
            // table already checked their shape; any fds are closed with msg.
            log::warn("{} is not supported; refused", spec.name);
            return Outcome::kRefused;
    }
}

Result<> BackendSession::notify_config_change() {
    if (!channel_) return fail("the front-end set up no back-end channel");
    return channel_->notify(BackendRequest::kConfigChangeMsg, {});
}

Result<> BackendSession::shmem_map(uint8_t shmid, int fd, uint64_t fd_offset, uint64_t shm_offset, uint64_t len,
                                   bool writable) {
    if (!has_protocol_feature(protocol_feature::kShmem)) return fail("SHMEM was not negotiated");
    if (!channel_) return fail("the front-end set up no back-end channel");
    if (len == 0 || fd_offset + len < fd_offset || shm_offset + len < shm_offset)
        return fail("shared memory range offset {:#x} len {:#x} is invalid", shm_offset, len);
    ShmemMap m{shmid, {}, fd_offset, shm_offset, len, writable ? 1u : 0u};
    int fds[1] = {fd};
    return channel_->request(BackendRequest::kShmemMap, {reinterpret_cast<const uint8_t*>(&m), sizeof m}, fds);
}

Result<> BackendSession::shmem_unmap(uint8_t shmid, uint64_t shm_offset, uint64_t len) {
    if (!has_protocol_feature(protocol_feature::kShmem)) return fail("SHMEM was not negotiated");
    if (!channel_) return fail("the front-end set up no back-end channel");
    ShmemMap m{shmid, {}, 0, shm_offset, len, 0};
    return channel_->request(BackendRequest::kShmemUnmap, {reinterpret_cast<const uint8_t*>(&m), sizeof m});
}

BackendSession::HandlerResult BackendSession::set_features(uint64_t features) {
    const uint64_t offered = device_.features() | bit(kFeatureProtocolFeatures) | bit(virtio::kFAccessPlatform);
    const bool was_iotlb = iotlb_mode();
    if (features & ~offered) return fail("features {:#x} include bits not offered ({:#x})", features, offered);
    acked_features_ = features;
    features_set_ = true;
    // As kernel vhost does, SET_FEATURES with ACCESS_PLATFORM starts a fresh
    // device IOTLB: a restarting front-end does not invalidate what it set
    // before, and the guest may have remapped those addresses meanwhile.
    if (features & bit(virtio::kFAccessPlatform)) iotlb_->invalidate(0, UINT64_MAX);
    device_.set_acked_features(features & ~(bit(kFeatureProtocolFeatures) | bit(virtio::kFAccessPlatform)));
    // Addresses change meaning (IOVA or guest address): rebuild the view.
    if (iotlb_mode() != was_iotlb)
        if (auto r = rebuild_memory(); !r || *r != Outcome::kOk) return r;
    // Without PROTOCOL_FEATURES there is no SET_VRING_ENABLE: rings are enabled.
    if (!(features & bit(kFeatureProtocolFeatures))) {
        for (uint16_t i = 0; i < vrings_.size(); ++i) {
            vrings_[i].enabled = true;
            if (auto r = update_ring(i); !r) return r;
        }
    }
    return Outcome::kOk;
}

BackendSession::HandlerResult BackendSession::set_protocol_features(uint64_t features) {
    if (features & ~offered_protocol_features())
        return fail("protocol features {:#x} include bits not offered", features);
    protocol_features_ = features;
    return Outcome::kOk;
}

BackendSession::HandlerResult BackendSession::set_vring_num(const VringState& s) {
    auto v = vring(s.index);
    if (!v) return std::unexpected(v.error());
    if (!virtio::valid_queue_size(s.num) || s.num > device_.max_queue_size())
        return fail("ring {} size {} invalid (power of 2 up to {})", s.index, s.num, device_.max_queue_size());
    if ((*v)->running) return fail("ring {} resized while running", s.index);
    (*v)->num = s.num;
    return Outcome::kOk;
}

BackendSession::HandlerResult BackendSession::set_vring_addr(const VringAddr& a) {
    auto v = vring(a.index);
    if (!v) return std::unexpected(v.error());
    if (a.flags & ~1u) return fail("ring {} address flags {:#x} unknown", a.index, a.flags);
    if (a.desc_user_addr % 16 || a.avail_user_addr % 2 || a.used_user_addr % 4)
        return fail("ring {} addresses misaligned", a.index);
    if ((*v)->running) return fail("ring {} address changed while running", a.index);
    // Addresses are checked against guest memory here already, so a bad one is
    // refused where it was sent.
    if (!memory_) {
        log::warn("ring {} addresses set before any memory table; refused", a.index);
        return Outcome::kRefused;
    }
    if (!iotlb_mode()) {
        uint64_t gpa;
        if (!table_.uaddr_to_gpa(a.desc_user_addr, gpa) || !table_.uaddr_to_gpa(a.avail_user_addr, gpa) ||
            !table_.uaddr_to_gpa(a.used_user_addr, gpa)) {
            log::warn("ring {} addresses lie outside the memory table; refused", a.index);
            return Outcome::kRefused;
        }
    }
    (*v)->addr = a;
    (*v)->has_addr = true;
    return Outcome::kOk;
}

BackendSession::HandlerResult BackendSession::set_vring_base(const VringState& s) {
    auto v = vring(s.index);
    if (!v) return std::unexpected(v.error());
    if (s.num > 0xffff) return fail("ring {} base {:#x} has reserved bits set", s.index, s.num);
    if ((*v)->running) return fail("ring {} base changed while running", s.index);
    (*v)->base = static_cast<uint16_t>(s.num);
    return Outcome::kOk;
}

BackendSession::HandlerResult BackendSession::get_vring_base(const VringState& s) {
    auto v = vring(s.index);
    if (!v) return std::unexpected(v.error());
    // Stopping finishes the ring's in-flight I/O before we answer.
    stop_ring(static_cast<uint16_t>(s.index));
    (*v)->started = false;
    (*v)->kick.reset();
    VringState reply{s.index, (*v)->base};
    if (auto r = conn_.reply(static_cast<uint32_t>(Request::kGetVringBase),
                             {reinterpret_cast<const uint8_t*>(&reply), sizeof reply});
        !r)
        return std::unexpected(r.error());
    return Outcome::kOk;
}

BackendSession::HandlerResult BackendSession::set_vring_fd(Message& msg, Request which) {
    const uint64_t u = read_payload<uint64_t>(msg);
    if (u & ~(kVringIndexMask | kVringNoFd)) return fail("reserved bits set in {:#x}", u);
    const bool no_fd = u & kVringNoFd;
    if (no_fd != msg.fds.empty()) return fail("fd presence does not match the no-fd bit");
    auto v = vring(static_cast<uint32_t>(u & kVringIndexMask));
    if (!v) return std::unexpected(v.error());
    const uint16_t index = static_cast<uint16_t>(u & kVringIndexMask);
    UniqueFd fd = no_fd ? UniqueFd() : std::move(msg.fds[0]);
    // Queue threads signal and drain these; a blocking fd (a full pipe passed
    // instead of an eventfd) must not be able to stall a queue thread.
    if (fd) {
        int flags = ::fcntl(fd.get(), F_GETFL);
        if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) < 0)
            return fail_errno("ring {} fd cannot be made non-blocking", index);
    }
    switch (which) {
        case Request::kSetVringKick:
            // Polling rings without a kick fd is not offered.
            if (no_fd) return Outcome::kRefused;
            stop_ring(index);
            (*v)->kick = std::move(fd);
            (*v)->started = true;
            return update_ring(index);
        case Request::kSetVringCall:
            (*v)->call = no_fd ? nullptr : std::make_shared<UniqueFd>(std::move(fd));
            if ((*v)->running) runner_.set_call(index, (*v)->call);
            return Outcome::kOk;
        default:
            (*v)->err = no_fd ? nullptr : std::make_shared<UniqueFd>(std::move(fd));
            return Outcome::kOk;
    }
}

BackendSession::HandlerResult BackendSession::set_vring_enable(const VringState& s) {
    auto v = vring(s.index);
    if (!v) return std::unexpected(v.error());
    if (s.num > 1) return fail("ring {} enable value {} invalid", s.index, s.num);
    (*v)->enabled = s.num == 1;
    return update_ring(static_cast<uint16_t>(s.index));
}

BackendSession::HandlerResult BackendSession::update_ring(uint16_t index) {
    Vring& v = vrings_[index];
    const bool should_run = v.started && v.enabled;
    if (!should_run) {
        stop_ring(index);
        return Outcome::kOk;
    }
    if (v.running) return Outcome::kOk;
    if (!memory_ || !v.num || !v.has_addr) {
        log::warn("ring {} kicked before its memory, size and addresses were set; not started", index);
        return Outcome::kRefused;
    }
    VringStart start;
    start.index = index;
    start.size = static_cast<uint16_t>(v.num);
    // Ring addresses arrive as I/O virtual addresses behind an IOMMU, as
    // front-end user addresses otherwise.
    if (iotlb_mode()) {
        start.addrs = {v.addr.desc_user_addr, v.addr.avail_user_addr, v.addr.used_user_addr};
    } else if (!table_.uaddr_to_gpa(v.addr.desc_user_addr, start.addrs.desc) ||
        !table_.uaddr_to_gpa(v.addr.avail_user_addr, start.addrs.avail) ||
        !table_.uaddr_to_gpa(v.addr.used_user_addr, start.addrs.used)) {
        log::warn("ring {} addresses lie outside the memory table; not started", index);
        return Outcome::kRefused;
    }
    start.last_avail = v.base;
    start.event_idx = acked_features_ & bit(virtio::kFEventIdx);
    start.indirect = acked_features_ & bit(virtio::kFIndirectDesc);
    start.kick_fd = v.kick.get();
    start.call = v.call;
    start.err = v.err;
    start.memory = memory_;
    start.map_on_ring_thread = iotlb_mode();
    start.features = acked_features_;
    start.inflight = inflight_;
    if (auto r = runner_.start(start); !r) {
        log::warn("ring {} not started: {}", index, r.error().message);
        return Outcome::kRefused;
    }
    v.running = true;
    return Outcome::kOk;
}

BackendSession::HandlerResult BackendSession::iotlb_msg(const Message& msg) {
    IotlbMsg m;
    std::memcpy(&m, msg.payload.data(), sizeof m);
    uint64_t status = 0;
    log::debug("IOTLB type {} iova {:#x} size {:#x} uaddr {:#x} perm {}", m.type, m.iova, m.size, m.uaddr, m.perm);
    switch (m.type) {
        case 2:  // UPDATE
            if (m.size == 0 || m.iova + m.size < m.iova || m.perm > memory::iotlb_perm::kReadWrite) status = 1;
            else iotlb_->update(m.iova, m.size, m.uaddr, m.perm);
            break;
        case 3: iotlb_->invalidate(m.iova, m.size); break;  // INVALIDATE
        default: status = 1;
    }
    if (auto r = conn_.reply_u64(msg.header.request, status); !r) return std::unexpected(r.error());
    return Outcome::kOk;
}

BackendSession::HandlerResult BackendSession::get_config(const Message& msg) {
    auto hdr = read_payload<ConfigHeader>(msg);
    if (hdr.size != msg.payload.size() - sizeof hdr) return fail("config size field {} does not match payload", hdr.size);
    auto config = device_.config();
    if (hdr.offset > config.size() || hdr.size > config.size() - hdr.offset) return Outcome::kRefused;
    std::vector<uint8_t> body(sizeof hdr + hdr.size);
    std::memcpy(body.data(), &hdr, sizeof hdr);
    std::memcpy(body.data() + sizeof hdr, config.data() + hdr.offset, hdr.size);
    if (auto r = conn_.reply(msg.header.request, body); !r) return std::unexpected(r.error());
    return Outcome::kOk;
}

BackendSession::HandlerResult BackendSession::set_config(const Message& msg) {
    auto hdr = read_payload<ConfigHeader>(msg);
    if (hdr.size != msg.payload.size() - sizeof hdr) return fail("config size field {} does not match payload", hdr.size);
    if (hdr.flags > 1) return fail("config flags {:#x} unknown", hdr.flags);
    std::span<const uint8_t> data(msg.payload.data() + sizeof hdr, hdr.size);
    return device_.write_config(hdr.offset, data) ? Outcome::kOk : Outcome::kRefused;
}

}  // namespace xenvhost::vhost_user
