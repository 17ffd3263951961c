#pragma once
// A virtio device of a Xen guest served by a vhost-user back-end: the device
// model's transport drives it as a VirtioDevice, and it drives the back-end
// as a vhost-user front-end with XEN_MMAP regions. It maps no guest memory:
// the back-end maps the guest itself (privcmd or gntdev), the front-end
// relays kicks and calls through eventfds. When the back-end goes away it
// keeps the driver's queues and reconnects on the same socket, handing the
// new back-end the same inflight area and eventfds, so the guest sees
// nothing but a pause. Single-threaded: everything runs on the loop thread.

#include "base/error.hpp"
#include "event/event_loop.hpp"
#include "frontend/backend_requests.hpp"
#include "frontend/frontend_config.hpp"
#include "frontend/inflight_area.hpp"
#include "frontend/memory_table.hpp"
#include "frontend/feature_negotiation.hpp"
#include "frontend/reconnector.hpp"
#include "frontend/request_client.hpp"
#include "frontend/vring_relay.hpp"
#include "transport/virtio_device.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace xenvhost::vhost_frontend {

// What the front-end relayed, for an operator asking how many kicks and
// interrupts each guest request costs.
struct FrontendCounters {
    uint64_t kicks = 0;       // notify writes passed to the back-end
    uint64_t calls = 0;       // back-end signals passed to the guest
    uint64_t reconnects = 0;  // back-ends that came back with the driver's state
    uint64_t remaps = 0;      // memory tables sent again after an INVALIDATE
};

class VhostUserFrontend final : public transport::VirtioDevice {
public:
    // Connects and negotiates; fails if the back-end is not there or cannot
    // serve a Xen guest (no XEN_MMAP, no VERSION_1).
    static Result<std::unique_ptr<VhostUserFrontend>> create(event::EventLoop& loop, FrontendConfig cfg);
    ~VhostUserFrontend() override;
    VhostUserFrontend(const VhostUserFrontend&) = delete;
    VhostUserFrontend& operator=(const VhostUserFrontend&) = delete;

    void set_interrupt_sink(transport::InterruptSink* sink) { sink_ = sink; }
    bool connected() const { return client_.has_value(); }
    bool broken() const { return broken_; }
    // The guest gave memory back to Xen (an INVALIDATE ioreq): mappings the
    // back-end made earlier may name frames that are no longer the guest's.
    // Sends the memory table again, so the back-end maps what the guest has
    // now, and returns once the back-end has (REPLY_ACK).
    void remap_memory();
    const FrontendCounters& counters() const { return counters_; }

    uint32_t device_id() const override { return cfg_.device_id; }
    uint64_t device_features() const override { return device_features_; }
    uint16_t num_queues() const override { return num_queues_; }
    uint16_t queue_max_size() const override { return cfg_.queue_max_size; }
    std::span<const uint8_t> config() const override { return config_; }
    uint32_t config_generation() const override { return generation_; }
    void write_config(uint32_t offset, std::span<const uint8_t> data) override;
    Result<> set_features(uint64_t features) override;
    Result<> start(std::span<const transport::QueueConfig> queues) override;
    void notify(uint16_t index) override;
    void reset() override;

private:
    VhostUserFrontend(event::EventLoop& loop, FrontendConfig cfg) : loop_(loop), cfg_(std::move(cfg)) {}

    // The connection's life (frontend_connection.cpp).
    Result<> connect_backend();
    Result<> watch_backend();
    Result<> start_on_backend(bool resume);
    Result<> restore();
    bool try_reconnect();
    void drop_connection(const Error& why);
    void fail_device(const Error& why);
    // A request failed: a lost connection goes to reconnect and is no
    // error for the driver; anything else is passed on.
    Result<> settle(Result<> r);
    void on_config_changed();
    void on_call(uint16_t index);
    void on_ring_error(uint16_t index);
    Result<> check_queues(std::span<const transport::QueueConfig> queues) const;
    void stop_rings();

    event::EventLoop& loop_;
    FrontendConfig cfg_;
    transport::InterruptSink* sink_ = nullptr;

    std::optional<RequestClient> client_;
    Negotiated negotiated_;          // of the current connection
    std::unique_ptr<BackendChannel> channel_;
    std::unique_ptr<Reconnector> reconnector_;

    // Fixed at create: what the guest was offered.
    uint64_t device_features_ = 0;
    uint16_t num_queues_ = 0;
    std::vector<uint8_t> config_;
    uint32_t generation_ = 0;

    // The driver's state, kept across reconnects.
    std::optional<uint64_t> driver_features_;
    std::optional<MemoryTable> memory_;
    std::unique_ptr<VringRelay> rings_;
    std::optional<InflightArea> inflight_;  // kept for the device's life
    bool rings_ran_ = false;                // some back-end started the rings
    bool broken_ = false;
    FrontendCounters counters_;
};

}  // namespace xenvhost::vhost_frontend
