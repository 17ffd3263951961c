#pragma once
// The virtio device state both transports share (virtio 1.2 2.1, 3.1): the
// device status and its order, feature negotiation through 32-bit windows,
// the queues' registers and the queue selector. The transports only map
// registers onto it. A driver that breaks the order (DRIVER_OK before
// FEATURES_OK, clearing bits without a reset, changing a queue after
// DRIVER_OK) marks the device broken: DEVICE_NEEDS_RESET and a config
// interrupt, until the driver writes 0.

#include "transport/guest_log.hpp"
#include "transport/interrupt_state.hpp"
#include "transport/queue_setup.hpp"
#include "transport/virtio_device.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace xenvhost::transport {

namespace status_bit {
inline constexpr uint8_t kAcknowledge = 0x01;
inline constexpr uint8_t kDriver = 0x02;
inline constexpr uint8_t kDriverOk = 0x04;
inline constexpr uint8_t kFeaturesOk = 0x08;
inline constexpr uint8_t kNeedsReset = 0x40;
inline constexpr uint8_t kFailed = 0x80;
}  // namespace status_bit

// Transport features this emulation does not implement (queue reset,
// notification data, SR-IOV, admin queues): never offered, whatever the
// device says.
inline constexpr uint64_t kUnsupportedTransportFeatures =
    (uint64_t{1} << 37) | (uint64_t{1} << 38) | (uint64_t{1} << 39) | (uint64_t{1} << 40) | (uint64_t{1} << 41);
inline constexpr uint64_t kFeatureVersion1 = uint64_t{1} << 32;

// Limits of this emulation: PCI's notify page holds 1024 queue slots, and a
// split ring has at most 32768 entries.
inline constexpr uint16_t kMaxQueues = 1024;
inline constexpr uint16_t kMaxQueueSize = 32768;

class VirtioStatus {
public:
    // What a transport checks of a device before emulating it.
    static Result<> check_device(const VirtioDevice& device);

    // `interrupts` is the ISR that a reset clears; `config_changed` is how
    // the transport delivers the config interrupt of mark_broken() (its line,
    // or an MSI-X message).
    VirtioStatus(VirtioDevice& device, InterruptState& interrupts, InterruptSink& config_changed, GuestLog& log);

    uint8_t status() const { return status_; }
    void write_status(uint8_t value);
    bool broken() const { return status_ & status_bit::kNeedsReset; }
    // DEVICE_NEEDS_RESET and a config interrupt; logged once until reset.
    void mark_broken(std::string_view why);
    void reset();

    // Feature windows: 32 bits of the 64 at a time, chosen by a selector.
    uint64_t offered_features() const { return offered_; }
    uint32_t device_feature_select() const { return device_feature_select_; }
    void select_device_features(uint32_t select) { device_feature_select_ = select; }
    uint32_t device_features_window() const;
    uint32_t driver_feature_select() const { return driver_feature_select_; }
    void select_driver_features(uint32_t select) { driver_feature_select_ = select; }
    uint32_t driver_features_window() const;
    void write_driver_features(uint32_t value);

    // Queues: the selected one, or none when the selector names no queue.
    uint16_t num_queues() const { return static_cast<uint16_t>(queues_.size()); }
    uint16_t queue_max_size() const { return queue_max_; }
    uint16_t queue_select() const { return queue_select_; }
    void select_queue(uint16_t index) { queue_select_ = index; }
    const QueueSetup* selected_queue() const;
    // The selected queue for a write to register `reg`, or null: no such
    // queue, or DRIVER_OK is set (which marks the device broken).
    QueueSetup* writable_queue(std::string_view reg);
    void write_queue_size(uint32_t size);
    void write_queue_enable(uint32_t value);

    // A driver notification of queue `index`: passed on while running.
    void notify(uint32_t index);

private:
    void add_bits(uint8_t added);
    bool negotiate_features();
    void start_queues();

    VirtioDevice& device_;
    InterruptState& interrupts_;
    InterruptSink& config_changed_;
    GuestLog& log_;
    const uint64_t offered_;
    const uint16_t queue_max_;
    uint8_t status_ = 0;
    uint32_t device_feature_select_ = 0;
    uint32_t driver_feature_select_ = 0;
    uint64_t driver_features_ = 0;
    uint16_t queue_select_ = 0;
    std::vector<QueueSetup> queues_;
};

}  // namespace xenvhost::transport
