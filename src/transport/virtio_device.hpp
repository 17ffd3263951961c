#pragma once
// The device behind a transport: what the guest's driver negotiates with and
// kicks. Implemented by the vhost-user front-end (src/frontend), which
// forwards it to a back-end; the transport owns the register layout and the
// virtio status machine, the device owns features, config and rings.
// Called on the device model's thread.

#include "base/error.hpp"

#include <cstdint>
#include <span>

namespace xenvhost::transport {

// A queue as the driver set it up, addresses guest-physical (or, for a
// guest that uses grant DMA, in its grant space).
struct QueueConfig {
    uint16_t index = 0;
    uint16_t size = 0;
    uint64_t desc = 0;
    uint64_t driver = 0;  // avail ring
    uint64_t device = 0;  // used ring
};

class VirtioDevice {
public:
    virtual ~VirtioDevice() = default;

    // Fixed for the device's life (they come from the back-end at connect).
    virtual uint32_t device_id() const = 0;        // virtio device type, 2 = block
    virtual uint64_t device_features() const = 0;  // what the driver may accept, VERSION_1 included
    virtual uint16_t num_queues() const = 0;
    virtual uint16_t queue_max_size() const = 0;

    // Device-specific config space, as the driver reads it now.
    virtual std::span<const uint8_t> config() const = 0;
    // Changes with each config change the driver must notice.
    virtual uint32_t config_generation() const = 0;
    // A driver write into the config space (offset and bytes already checked
    // against config().size() by the transport).
    virtual void write_config(uint32_t offset, std::span<const uint8_t> data) = 0;

    // The driver set FEATURES_OK having accepted `features` (a subset of
    // device_features()); an error leaves FEATURES_OK clear.
    virtual Result<> set_features(uint64_t features) = 0;
    // DRIVER_OK: start the queues the driver enabled (each already checked:
    // size a power of two within the maximum, rings aligned). An error marks
    // the device broken (DEVICE_NEEDS_RESET).
    virtual Result<> start(std::span<const QueueConfig> queues) = 0;
    // The driver notified queue `index` (always < num_queues()).
    virtual void notify(uint16_t index) = 0;
    // Status written 0 (or the transport reset itself): stop every queue and
    // forget the negotiated features. Must be safe in any state.
    virtual void reset() = 0;
};

// How the device tells its transport that it has something for the guest.
class InterruptSink {
public:
    virtual ~InterruptSink() = default;
    virtual void queue_interrupt(uint16_t index) = 0;  // a used buffer
    virtual void config_interrupt() = 0;               // config() changed
    // The device can no longer work (its back-end is gone for good): the
    // transport sets DEVICE_NEEDS_RESET and raises a config interrupt.
    virtual void device_broken() = 0;
};

}  // namespace xenvhost::transport
