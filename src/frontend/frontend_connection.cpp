// The connection's life: connect and negotiate, watch the socket, lose the
// back-end, get it back and put the driver's state into it again.
#include "base/log.hpp"
#include "frontend/vhost_user_frontend.hpp"

#include <sys/epoll.h>

namespace xenvhost::vhost_frontend {

namespace pf = vhost_user::protocol_feature;

Result<> VhostUserFrontend::connect_backend() {
    auto c = RequestClient::connect(cfg_.socket_path, cfg_.reply_timeout_ms);
    if (!c) return pass(c.error());
    client_ = std::move(*c);
    auto n = negotiate(*client_, cfg_);
    if (!n) {
        client_.reset();
        return pass(n.error());
    }
    negotiated_ = std::move(*n);
    if (auto r = watch_backend(); !r) {
        client_.reset();
        return r;
    }
    return {};
}

Result<> VhostUserFrontend::watch_backend() {
    // Between exchanges the back-end has nothing to say on this socket: a
    // readable socket is a close (or a peer out of step), either way lost.
    auto r = loop_.add(client_->fd(), EPOLLIN | EPOLLRDHUP, [this](uint32_t events) {
        const bool closed = events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR);
        drop_connection(Error{closed ? "the back-end closed the connection" : "unsolicited message from the back-end",
                              0, closed ? ErrorKind::kPeerGone : ErrorKind::kProtocol});
    });
    if (!r) return r;
    if (!negotiated_.has(pf::kBackendReq)) return {};
    auto ch = BackendChannel::open(loop_, *client_, negotiated_.has(pf::kReplyAck), cfg_.reply_timeout_ms,
                                   {[this] { on_config_changed(); }, [this](uint16_t i) { on_call(i); }});
    if (!ch) {
        loop_.remove(client_->fd());
        return pass(ch.error());
    }
    channel_ = std::move(*ch);
    return {};
}

void VhostUserFrontend::drop_connection(const Error& why) {
    if (!client_) return;
    log::warn("vhost-user back-end {} lost: {}", cfg_.socket_path, why.message);
    loop_.remove(client_->fd());
    client_.reset();
    // The channel may be the caller (a config change whose GET_CONFIG
    // failed): it goes once the current callbacks are done.
    if (channel_) loop_.defer([old = std::shared_ptr<BackendChannel>(std::move(channel_))] {});
    if (!broken_) reconnector_->begin();
}

void VhostUserFrontend::fail_device(const Error& why) {
    log::error("vhost-user back-end {}: device broken: {}", cfg_.socket_path, why.message);
    broken_ = true;
    reconnector_->cancel();
    drop_connection(why);
    if (sink_) sink_->device_broken();
}

Result<> VhostUserFrontend::settle(Result<> r) {
    if (r || !connection_lost(r.error())) return r;
    drop_connection(r.error());
    return {};
}

bool VhostUserFrontend::try_reconnect() {
    if (auto r = connect_backend(); !r) {
        log::debug("vhost-user back-end {} not back yet: {}", cfg_.socket_path, r.error().message);
        // A back-end that answers but can no longer serve a Xen guest will not get better.
        if (r.error().kind == ErrorKind::kPolicy) fail_device(r.error());
        return false;
    }
    log::info("vhost-user back-end {} is back", cfg_.socket_path);
    auto r = restore();
    if (!r && connection_lost(r.error())) {
        drop_connection(r.error());  // lost again already: keep trying
        return false;
    }
    if (!r) {
        fail_device(r.error());
        return false;
    }
    ++counters_.reconnects;
    // The old back-end may have published completions and died before its
    // call: an interrupt per ring lets the driver look (a spurious one costs
    // it a used-index read).
    if (rings_ && rings_ran_ && sink_)
        for (const Ring& ring : rings_->rings()) sink_->queue_interrupt(ring.queue.index);
    return true;
}

Result<> VhostUserFrontend::restore() {
    const uint64_t now_offered = guest_features(negotiated_.backend_features, cfg_.region_kind);
    if (negotiated_.num_queues < num_queues_ || (driver_features_ && (*driver_features_ & ~now_offered)))
        return fail_as(ErrorKind::kPolicy, "the new back-end has fewer queues or features than the guest uses");
    if (negotiated_.config != config_ && !negotiated_.config.empty()) {
        config_ = negotiated_.config;
        ++generation_;
        if (sink_) sink_->config_interrupt();
    }
    if (!driver_features_) return {};
    if (auto r = send_features(*client_, negotiated_, *driver_features_); !r) return r;
    if (!rings_) return {};
    // Rings that ran can only resume at the right place through the inflight area.
    if (rings_ran_ && !inflight_)
        return fail_as(ErrorKind::kPolicy, "rings ran without an inflight area: in-flight requests cannot be recovered");
    return start_on_backend(rings_ran_);
}

void VhostUserFrontend::on_config_changed() {
    if (!client_) return;
    auto fresh = read_config(*client_, static_cast<uint32_t>(config_.size()));
    if (!fresh) {
        if (connection_lost(fresh.error())) drop_connection(fresh.error());
        else log::warn("config change: {}", fresh.error().message);
        return;
    }
    if (fresh->size() == config_.size()) config_ = std::move(*fresh);
    ++generation_;
    if (sink_) sink_->config_interrupt();
}

}  // namespace xenvhost::vhost_frontend
