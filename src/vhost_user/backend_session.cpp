#include "vhost_user/backend_session.hpp"

#include "base/log.hpp"
#include "vhost_user/session_errors.hpp"
#include "virtio/ring_layout.hpp"
#include "xen/privilege.hpp"

#include <array>
#include <cstring>

namespace xenvhost::vhost_user {

// One row per message the session handles: the protocol feature it needs
// (refused without it) and its handler. Ids not listed are refused.
struct BackendSession::Route {
    Request id;
    int needs;  // protocol feature bit, or -1
    Handler handler;
};

namespace {
constexpr int kAlways = -1;
}  // namespace

const BackendSession::Route* BackendSession::route(Request id) {
    using namespace protocol_feature;
    using S = BackendSession;
    static constexpr std::array<Route, 30> kRoutes{{
        {Request::kGetFeatures, kAlways, &S::get_features},
        {Request::kSetFeatures, kAlways, &S::set_features},
        {Request::kGetProtocolFeatures, kAlways, &S::get_protocol_features},
        {Request::kSetProtocolFeatures, kAlways, &S::set_protocol_features},
        {Request::kSetOwner, kAlways, &S::set_owner},
        {Request::kResetOwner, kAlways, &S::reset_owner},
        {Request::kResetDevice, kResetDevice, &S::reset_device},
        {Request::kGetQueueNum, kAlways, &S::get_queue_num},
        {Request::kGetMaxMemSlots, kConfigureMemSlots, &S::get_max_mem_slots},
        {Request::kSetMemTable, kAlways, &S::set_mem_table},
        {Request::kAddMemReg, kConfigureMemSlots, &S::add_mem_reg},
        {Request::kRemMemReg, kConfigureMemSlots, &S::rem_mem_reg},
        {Request::kSetVringNum, kAlways, &S::set_vring_num},
        {Request::kSetVringAddr, kAlways, &S::set_vring_addr},
        {Request::kSetVringBase, kAlways, &S::set_vring_base},
        {Request::kGetVringBase, kAlways, &S::get_vring_base},
        {Request::kSetVringKick, kAlways, &S::set_vring_kick},
        {Request::kSetVringCall, kAlways, &S::set_vring_call},
        {Request::kSetVringErr, kAlways, &S::set_vring_err},
        {Request::kSetVringEnable, kAlways, &S::set_vring_enable},
        {Request::kGetConfig, kConfig, &S::get_config},
        {Request::kSetConfig, kConfig, &S::set_config},
        {Request::kSetStatus, kStatus, &S::set_status},
        {Request::kGetStatus, kStatus, &S::get_status},
        {Request::kGetInflightFd, kInflightShmfd, &S::get_inflight_fd},
        {Request::kSetInflightFd, kInflightShmfd, &S::set_inflight_fd},
        {Request::kSetBackendReqFd, kBackendReq, &S::set_backend_req_fd},
        {Request::kIotlbMsg, kAlways, &S::iotlb_msg},
        {Request::kGetShmemConfig, kShmem, &S::get_shmem_config},
        {Request::kNone, kAlways, nullptr},
    }};
    for (const auto& r : kRoutes)
        if (r.id == id && r.handler) return &r;
    return nullptr;
}

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
    if (options_.memory->policy().xen) f |= bit(kXenMmap);
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

// The one place where a handler's error becomes the session's reaction.
Result<> BackendSession::handle(Message& msg) {
    auto spec = validate(msg.header, msg.fds.size());
    if (!spec) return pass(spec.error());
    const std::string_view name = (*spec)->name;
    const bool wants_ack = has_protocol_feature(protocol_feature::kReplyAck) &&
                           (msg.header.flags & kFlagNeedReply) && (*spec)->reply == ReplyKind::kNone;
    Result<> done = run_handler(msg);
    if (done) return wants_ack ? conn_.reply_u64(msg.header.request, kReplyOk) : Result<>{};
    if (auto refusal = xen::refusal_in(done.error().message); !refusal.empty()) privilege_refusal_ = refusal;
    if (done.error().kind != ErrorKind::kPolicy) {
        // Tell a front-end that asked, then close.
        if (wants_ack) (void)conn_.reply_u64(msg.header.request, kReplyFailed);
        return fail_as(done.error().kind, "{}: {}", name, done.error().message);
    }
    log::warn("{} refused: {}", name, done.error().message);
    if ((*spec)->reply == ReplyKind::kAlways) return send_refusal(msg);
    if (wants_ack) return conn_.reply_u64(msg.header.request, kReplyFailed);
    log::warn("{}: the front-end did not ask for an acknowledgement", name);
    return {};
}

Result<> BackendSession::run_handler(Message& msg) {
    const Route* r = route(static_cast<Request>(msg.header.request));
    if (!r) return refuse("not supported");
    if (r->needs != kAlways && !has_protocol_feature(static_cast<unsigned>(r->needs)))
        return refuse("protocol feature {} was not negotiated", r->needs);
    return (this->*(r->handler))(msg);
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
        case Request::kSetDeviceStateFd: return conn_.reply_u64(id, kReplyFailed | kDeviceStateNoFd);
        default: return conn_.reply_u64(id, kReplyFailed);
    }
}

uint64_t BackendSession::offered_features() const {
    return device_.features() | bit(kFeatureProtocolFeatures) | bit(virtio::kFAccessPlatform);
}

Result<> BackendSession::get_features(Message& msg) { return conn_.reply_u64(msg.header.request, offered_features()); }

Result<> BackendSession::set_features(Message& msg) {
    const uint64_t features = read_payload<uint64_t>(msg.payload);
    const uint64_t offered = offered_features();
    const bool was_iotlb = iotlb_mode();
    if (features & ~offered) return violation("features {:#x} include bits not offered ({:#x})", features, offered);
    acked_features_ = features;
    features_set_ = true;
    // As kernel vhost does, SET_FEATURES with ACCESS_PLATFORM starts a fresh
    // device IOTLB: a restarting front-end does not invalidate what it set
    // before, and the guest may have remapped those addresses meanwhile.
    if (features & bit(virtio::kFAccessPlatform)) iotlb_->invalidate(0, UINT64_MAX);
    device_.set_acked_features(features & ~(bit(kFeatureProtocolFeatures) | bit(virtio::kFAccessPlatform)));
    // Addresses change meaning (IOVA or guest address): rebuild the view.
    if (iotlb_mode() != was_iotlb)
        if (auto r = rebuild_memory(); !r) return r;
    // Without PROTOCOL_FEATURES there is no SET_VRING_ENABLE: rings are enabled.
    if (!(features & bit(kFeatureProtocolFeatures))) {
        for (uint16_t i = 0; i < vrings_.size(); ++i) {
            vrings_[i].enabled = true;
            // A ring that cannot start yet is no reason to refuse the features.
            if (auto r = update_ring(i); !r) {
                if (r.error().kind != ErrorKind::kPolicy) return r;
                log::warn("{}", r.error().message);
            }
        }
    }
    return {};
}

Result<> BackendSession::get_protocol_features(Message& msg) {
    return conn_.reply_u64(msg.header.request, offered_protocol_features());
}

Result<> BackendSession::set_protocol_features(Message& msg) {
    const uint64_t features = read_payload<uint64_t>(msg.payload);
    if (features & ~offered_protocol_features())
        return violation("protocol features {:#x} include bits not offered", features);
    protocol_features_ = features;
    return {};
}

Result<> BackendSession::set_owner(Message&) { return {}; }

Result<> BackendSession::reset_owner(Message&) {
    reset();
    acked_features_ = 0;
    features_set_ = false;
    return {};
}

Result<> BackendSession::reset_device(Message& msg) {
    status_ = 0;
    return reset_owner(msg);
}

Result<> BackendSession::get_queue_num(Message& msg) {
    return conn_.reply_u64(msg.header.request, device_.num_queues());
}

Result<> BackendSession::get_max_mem_slots(Message& msg) {
    return conn_.reply_u64(msg.header.request, memory::kMaxRegions);
}

}  // namespace xenvhost::vhost_user
