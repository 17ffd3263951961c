// The VirtioDevice side: what the transport asks on behalf of the driver.
#include "frontend/vhost_user_frontend.hpp"

#include "base/log.hpp"
#include "frontend/vring_control.hpp"
#include "virtio/ring_layout.hpp"

#include <cstring>

namespace xenvhost::vhost_frontend {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;

namespace {
// ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK, for a back-end that tracks status.
constexpr uint64_t kStatusRunning = 0x1 | 0x2 | 0x4 | 0x8;
}  // namespace

Result<std::unique_ptr<VhostUserFrontend>> VhostUserFrontend::create(event::EventLoop& loop, FrontendConfig cfg) {
    if (auto r = check_layout(cfg); !r) return pass(r.error());
    if (cfg.queue_max_size == 0 || (cfg.queue_max_size & (cfg.queue_max_size - 1)))
        return fail_as(ErrorKind::kPolicy, "queue size {} is not a power of two", cfg.queue_max_size);
    std::unique_ptr<VhostUserFrontend> f(new VhostUserFrontend(loop, std::move(cfg)));
    VhostUserFrontend* self = f.get();
    auto rc = Reconnector::create(
        loop, f->cfg_.reconnect, [self] { return self->try_reconnect(); },
        [self] { self->fail_device(Error{"the back-end did not come back in time", 0, ErrorKind::kPeerGone}); });
    if (!rc) return pass(rc.error());
    f->reconnector_ = std::move(*rc);
    if (auto r = f->connect_backend(); !r) return pass(r.error());
    f->device_features_ = guest_features(f->negotiated_.backend_features, f->cfg_.region_kind);
    f->num_queues_ = f->negotiated_.num_queues;
    f->config_ = f->negotiated_.config;
    log::info("vhost-user front-end {}: device {} features {:#x}, {} queues, {} config bytes", f->cfg_.socket_path,
              f->cfg_.device_id, f->device_features_, f->num_queues_, f->config_.size());
    return f;
}

VhostUserFrontend::~VhostUserFrontend() {
    if (client_) loop_.remove(client_->fd());
}

void VhostUserFrontend::write_config(uint32_t offset, std::span<const uint8_t> data) {
    if (!client_ || !negotiated_.has(pf::kConfig) || data.size() > vu::kMaxConfigSize) {
        log::warn("config write at {} dropped: no back-end to take it", offset);
        return;
    }
    std::vector<uint8_t> msg(sizeof(vu::ConfigHeader) + data.size());
    const vu::ConfigHeader h{offset, static_cast<uint32_t>(data.size()), 0};
    std::memcpy(msg.data(), &h, sizeof h);
    std::memcpy(msg.data() + sizeof h, data.data(), data.size());
    if (auto r = settle(client_->send(vu::Request::kSetConfig, msg)); !r)
        log::warn("config write at {}: {}", offset, r.error().message);
    // What the driver reads next is what the back-end made of the write.
    if (!client_) return;
    auto fresh = read_config(*client_, static_cast<uint32_t>(config_.size()));
    if (fresh && fresh->size() == config_.size()) config_ = std::move(*fresh);
    else if (!fresh) (void)settle(pass(fresh.error()));
}

Result<> VhostUserFrontend::set_features(uint64_t features) {
    if (features & ~device_features_)
        return fail_as(ErrorKind::kGuestFault, "driver accepted features {:#x} never offered", features & ~device_features_);
    if (!(features & vu::bit(virtio::kFVersion1)))
        return fail_as(ErrorKind::kGuestFault, "driver did not accept VIRTIO_F_VERSION_1");
    driver_features_ = features;
    if (!client_) return {};  // sent when the back-end is back
    return settle(send_features(*client_, negotiated_, features));
}

Result<> VhostUserFrontend::check_queues(std::span<const transport::QueueConfig> queues) const {
    std::vector<bool> seen(num_queues_);
    for (const auto& q : queues) {
        if (q.index >= num_queues_ || seen[q.index])
            return fail_as(ErrorKind::kGuestFault, "queue {} does not exist or is given twice", q.index);
        if (q.size == 0 || q.size > cfg_.queue_max_size || (q.size & (q.size - 1)))
            return fail_as(ErrorKind::kGuestFault, "queue {} size {} invalid", q.index, q.size);
        seen[q.index] = true;
    }
    return check_rings(cfg_, queues);
}

Result<> VhostUserFrontend::start(std::span<const transport::QueueConfig> queues) {
    if (broken_) return fail_as(ErrorKind::kPolicy, "the device is broken until reset");
    if (!driver_features_) return fail_as(ErrorKind::kGuestFault, "queues started before features were set");
    if (rings_) return fail_as(ErrorKind::kGuestFault, "queues started twice without a reset");
    if (auto r = check_queues(queues); !r) return r;
    auto table = MemoryTable::build(cfg_, queues);
    if (!table) return pass(table.error());
    auto relay = VringRelay::create(loop_, queues,
                                    {[this](uint16_t i) { on_call(i); }, [this](uint16_t i) { on_ring_error(i); }});
    if (!relay) return pass(relay.error());
    memory_ = std::move(*table);
    rings_ = std::move(*relay);
    if (!client_) return {};  // started by restore() when the back-end is back
    auto r = settle(start_on_backend(false));
    if (!r) stop_rings();
    return r;
}

void VhostUserFrontend::notify(uint16_t index) {
    if (!rings_ || !rings_->kick(index)) return log::debug("notify of queue {} that was not started", index);
    ++counters_.kicks;
}

void VhostUserFrontend::remap_memory() {
    // Before the rings start the back-end holds no mapping; a back-end that
    // is away gets the table when it comes back.
    if (!client_ || !memory_ || !rings_ran_) return;
    ++counters_.remaps;
    if (auto r = settle(memory_->send(*client_)); !r) log::warn("memory table after an invalidate: {}", r.error().message);
}

void VhostUserFrontend::stop_rings() {
    rings_.reset();
    memory_.reset();
    rings_ran_ = false;
}

void VhostUserFrontend::reset() {
    if (client_) {
        Result<> r;
        // GET_VRING_BASE stops each ring once its in-flight requests are done.
        for (const Ring& ring : rings_ ? rings_->rings() : std::span<const Ring>{}) {
            if (!r) break;
            if (auto base = stop_ring(*client_, ring.queue.index); !base) r = pass(base.error());
        }
        if (r && negotiated_.has(pf::kResetDevice)) r = client_->send(vu::Request::kResetDevice);
        if (r && negotiated_.has(pf::kStatus)) r = client_->send_u64(vu::Request::kSetStatus, 0);
        if (auto s = settle(r); !s) log::warn("reset: {}", s.error().message);
    }
    stop_rings();
    driver_features_.reset();
    if (inflight_) inflight_->clear();  // nothing is in flight after a reset
    if (broken_) {
        // The driver acknowledged the breakage; give the back-end another chance.
        broken_ = false;
        if (!client_) reconnector_->begin();
    }
}

Result<> VhostUserFrontend::start_on_backend(bool resume) {
    RequestClient& c = *client_;
    if (auto r = memory_->send(c); !r) return r;
    if (negotiated_.has(pf::kInflightShmfd)) {
        if (!inflight_) {
            auto a = InflightArea::fetch(c, num_queues_, cfg_.queue_max_size);
            if (!a) return pass(a.error());
            inflight_ = std::move(*a);
        }
        if (inflight_)
            if (auto r = inflight_->send(c); !r) return r;
    }
    for (const Ring& ring : rings_->rings()) {
        // A resumed ring continues where the area says the back-end stopped
        // using; the back-end then resubmits what it had taken beyond that.
        uint16_t base = 0;
        if (resume && inflight_) base = inflight_->used_idx(ring.queue.index, ring.queue.size).value_or(0);
        const bool enable = negotiated_.backend_features & vu::bit(vu::kFeatureProtocolFeatures);
        if (auto r = start_ring(c, ring, base, enable); !r) return r;
    }
    rings_ran_ = true;
    if (negotiated_.has(pf::kStatus)) return c.send_u64(vu::Request::kSetStatus, kStatusRunning);
    return {};
}

void VhostUserFrontend::on_call(uint16_t index) {
    // In-band calls name their queue: one the guest does not have is dropped.
    if (index >= num_queues_) return log::warn("back-end signalled queue {} of {}", index, num_queues_);
    ++counters_.calls;
    if (sink_) sink_->queue_interrupt(index);
}

void VhostUserFrontend::on_ring_error(uint16_t index) {
    log::error("vhost-user back-end {} reports an error on queue {}", cfg_.socket_path, index);
    if (sink_) sink_->device_broken();
}

}  // namespace xenvhost::vhost_frontend
