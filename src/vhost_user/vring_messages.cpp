// SET_VRING_* and GET_VRING_BASE: ring size, addresses, base, eventfds and
// enabling, and when a ring is handed to the runner or taken back.

#include "base/log.hpp"
#include "vhost_user/backend_session.hpp"
#include "vhost_user/session_errors.hpp"
#include "virtio/ring_layout.hpp"

#include <fcntl.h>

namespace xenvhost::vhost_user {

void BackendSession::stop_ring(uint16_t index) {
    Vring& v = vrings_[index];
    if (v.running) {
        v.base = runner_.stop(index);
        v.running = false;
    }
}

Result<BackendSession::Vring*> BackendSession::vring(uint32_t index) {
    if (index >= vrings_.size()) return violation("ring index {} out of range (device has {})", index, vrings_.size());
    return &vrings_[index];
}

Result<> BackendSession::set_vring_num(Message& msg) {
    const auto s = read_payload<VringState>(msg.payload);
    auto v = vring(s.index);
    if (!v) return pass(v.error());
    if (!virtio::valid_queue_size(s.num) || s.num > device_.max_queue_size())
        return violation("ring {} size {} invalid (power of 2 up to {})", s.index, s.num, device_.max_queue_size());
    if ((*v)->running) return violation("ring {} resized while running", s.index);
    (*v)->num = s.num;
    return {};
}

Result<> BackendSession::set_vring_addr(Message& msg) {
    const auto a = read_payload<VringAddr>(msg.payload);
    auto v = vring(a.index);
    if (!v) return pass(v.error());
    if (a.flags & ~1u) return violation("ring {} address flags {:#x} unknown", a.index, a.flags);
    if (a.desc_user_addr % 16 || a.avail_user_addr % 2 || a.used_user_addr % 4)
        return violation("ring {} addresses misaligned", a.index);
    if ((*v)->running) return violation("ring {} address changed while running", a.index);
    // Addresses are checked against guest memory here already, so a bad one is
    // refused where it was sent.
    if (!memory_) return refuse("ring {} addresses set before any memory table", a.index);
    if (!iotlb_mode()) {
        uint64_t gpa;
        if (!table_.uaddr_to_gpa(a.desc_user_addr, gpa) || !table_.uaddr_to_gpa(a.avail_user_addr, gpa) ||
            !table_.uaddr_to_gpa(a.used_user_addr, gpa))
            return refuse("ring {} addresses lie outside the memory table", a.index);
    }
    (*v)->addr = a;
    (*v)->has_addr = true;
    return {};
}

Result<> BackendSession::set_vring_base(Message& msg) {
    const auto s = read_payload<VringState>(msg.payload);
    auto v = vring(s.index);
    if (!v) return pass(v.error());
    if (s.num > 0xffff) return violation("ring {} base {:#x} has reserved bits set", s.index, s.num);
    if ((*v)->running) return violation("ring {} base changed while running", s.index);
    (*v)->base = static_cast<uint16_t>(s.num);
    return {};
}

Result<> BackendSession::get_vring_base(Message& msg) {
    const auto s = read_payload<VringState>(msg.payload);
    auto v = vring(s.index);
    if (!v) return pass(v.error());
    // Stopping finishes the ring's in-flight I/O before we answer.
    stop_ring(static_cast<uint16_t>(s.index));
    (*v)->started = false;
    (*v)->kick.reset();
    VringState reply{s.index, (*v)->base};
    return conn_.reply(msg.header.request, {reinterpret_cast<const uint8_t*>(&reply), sizeof reply});
}

Result<> BackendSession::set_vring_kick(Message& msg) { return set_vring_fd(msg, Request::kSetVringKick); }
Result<> BackendSession::set_vring_call(Message& msg) { return set_vring_fd(msg, Request::kSetVringCall); }
Result<> BackendSession::set_vring_err(Message& msg) { return set_vring_fd(msg, Request::kSetVringErr); }

Result<> BackendSession::set_vring_fd(Message& msg, Request which) {
    const uint64_t u = read_payload<uint64_t>(msg.payload);
    if (u & ~(kVringIndexMask | kVringNoFd)) return violation("reserved bits set in {:#x}", u);
    const bool no_fd = u & kVringNoFd;
    if (no_fd != msg.fds.empty()) return violation("fd presence does not match the no-fd bit");
    auto v = vring(static_cast<uint32_t>(u & kVringIndexMask));
    if (!v) return pass(v.error());
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
            if (no_fd) return refuse("polling ring {} without a kick fd is not offered", index);
            stop_ring(index);
            (*v)->kick = std::move(fd);
            (*v)->started = true;
            return update_ring(index);
        case Request::kSetVringCall:
            (*v)->call = no_fd ? nullptr : std::make_shared<UniqueFd>(std::move(fd));
            if ((*v)->running) runner_.set_call(index, (*v)->call);
            return {};
        default:
            (*v)->err = no_fd ? nullptr : std::make_shared<UniqueFd>(std::move(fd));
            return {};
    }
}

Result<> BackendSession::set_vring_enable(Message& msg) {
    // Without PROTOCOL_FEATURES there is no REPLY_ACK either, so only
    // closing the connection tells the front-end it broke the rules.
    if (!(acked_features_ & bit(kFeatureProtocolFeatures)) && features_set_)
        return violation("not allowed without VHOST_USER_F_PROTOCOL_FEATURES");
    const auto s = read_payload<VringState>(msg.payload);
    auto v = vring(s.index);
    if (!v) return pass(v.error());
    if (s.num > 1) return violation("ring {} enable value {} invalid", s.index, s.num);
    (*v)->enabled = s.num == 1;
    return update_ring(static_cast<uint16_t>(s.index));
}

Result<> BackendSession::update_ring(uint16_t index) {
    Vring& v = vrings_[index];
    if (!v.started || !v.enabled) {
        stop_ring(index);
        return {};
    }
    if (v.running) return {};
    if (!memory_ || !v.num || !v.has_addr)
        return refuse("ring {} kicked before its memory, size and addresses were set; not started", index);
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
        return refuse("ring {} addresses lie outside the memory table; not started", index);
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
    start.verify_guest_writes = options_.verify_guest_writes;
    start.inflight = inflight_;
    if (auto r = runner_.start(start); !r) return refuse("ring {} not started: {}", index, r.error().message);
    v.running = true;
    return {};
}

}  // namespace xenvhost::vhost_user
