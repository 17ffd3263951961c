#include "transport/virtio_status.hpp"

namespace xenvhost::transport {

using namespace status_bit;

Result<> VirtioStatus::check_device(const VirtioDevice& device) {
    if (device.num_queues() > kMaxQueues)
        return fail_as(ErrorKind::kPolicy, "{} queues, at most {} supported", device.num_queues(), kMaxQueues);
    if (device.queue_max_size() == 0 || device.queue_max_size() > kMaxQueueSize)
        return fail_as(ErrorKind::kPolicy, "maximum queue size {} not within 1..{}", device.queue_max_size(),
                       kMaxQueueSize);
    if (!(device.device_features() & kFeatureVersion1))
        return fail_as(ErrorKind::kPolicy, "device does not offer VERSION_1");
    return {};
}

VirtioStatus::VirtioStatus(VirtioDevice& device, InterruptState& interrupts, InterruptSink& config_changed,
                           GuestLog& log)
    : device_(device),
      interrupts_(interrupts),
      config_changed_(config_changed),
      log_(log),
      offered_(device.device_features() & ~kUnsupportedTransportFeatures),
      queue_max_(device.queue_max_size()),
      queues_(device.num_queues(), QueueSetup{queue_max_, false, 0, 0, 0}) {}

void VirtioStatus::write_status(uint8_t value) {
    if (value == 0) {
        reset();
        return;
    }
    // DEVICE_NEEDS_RESET is the device's bit: a driver writing back what it
    // read may include it, and may not clear it.
    const uint8_t old = status_ & ~kNeedsReset;
    const uint8_t wanted = value & ~kNeedsReset;
    if (old & ~wanted) {
        mark_broken(fmt::format("status {:#04x} written over {:#04x} clears bits without a reset", value, status_));
        return;
    }
    add_bits(wanted & ~old);
}

// Bits in the order a driver sets them; FAILED is accepted at any time.
void VirtioStatus::add_bits(uint8_t added) {
    if (added & kFailed) {
        status_ |= kFailed;
        log_.warn("driver set FAILED (status {:#04x})", status_);
    }
    added &= ~kFailed;
    if (!added) return;
    if (broken()) {
        log_.warn("status bits {:#04x} ignored: the device needs a reset", added);
        return;
    }
    const uint8_t next = status_ | added;
    const bool in_order = (!(next & kDriver) || (next & kAcknowledge)) && (!(next & kFeaturesOk) || (next & kDriver)) &&
                          (!(next & kDriverOk) || (next & kFeaturesOk));
    if (!in_order) {
        mark_broken(fmt::format("status bits {:#04x} set out of order over {:#04x}", added, status_));
        return;
    }
    status_ |= added & (kAcknowledge | kDriver);
    if ((added & kFeaturesOk) && negotiate_features()) status_ |= kFeaturesOk;
    if (added & kDriverOk) {
        if (!(status_ & kFeaturesOk)) {
            mark_broken("DRIVER_OK without FEATURES_OK");
            return;
        }
        status_ |= kDriverOk;
        start_queues();
    }
    // Any other bit (reserved) is dropped: the driver reads back what counts.
}

bool VirtioStatus::negotiate_features() {
    if (driver_features_ & ~offered_) {
        log_.warn("FEATURES_OK refused: features {:#x} were not offered", driver_features_ & ~offered_);
        return false;
    }
    if (!(driver_features_ & kFeatureVersion1)) {
        log_.warn("FEATURES_OK refused: the driver did not accept VERSION_1");
        return false;
    }
    if (auto r = device_.set_features(driver_features_); !r) {
        log_.warn("FEATURES_OK refused by the device: {}", r.error().message);
        return false;
    }
    return true;
}

void VirtioStatus::start_queues() {
    std::vector<QueueConfig> enabled;
    for (size_t i = 0; i < queues_.size(); ++i) {
        if (!queues_[i].enabled) continue;
        if (auto r = check_queue_ready(queues_[i], queue_max_); !r) {
            mark_broken(fmt::format("DRIVER_OK with queue {}: {}", i, r.error().message));
            return;
        }
        enabled.push_back(queue_config(static_cast<uint16_t>(i), queues_[i]));
    }
    if (auto r = device_.start(enabled); !r) mark_broken(fmt::format("the device did not start: {}", r.error().message));
}

void VirtioStatus::mark_broken(std::string_view why) {
    if (!broken()) log_.warn("device broken until reset: {}", why);
    status_ |= kNeedsReset;
    config_changed_.config_interrupt();
}

void VirtioStatus::reset() {
    device_.reset();
    status_ = 0;
    device_feature_select_ = 0;
    driver_feature_select_ = 0;
    driver_features_ = 0;
    queue_select_ = 0;
    for (auto& q : queues_) q = QueueSetup{queue_max_, false, 0, 0, 0};
    interrupts_.clear();
}

uint32_t VirtioStatus::device_features_window() const {
    if (device_feature_select_ > 1) return 0;
    return static_cast<uint32_t>(offered_ >> (32 * device_feature_select_));
}

uint32_t VirtioStatus::driver_features_window() const {
    if (driver_feature_select_ > 1) return 0;
    return static_cast<uint32_t>(driver_features_ >> (32 * driver_feature_select_));
}

// Features are fixed once FEATURES_OK is set (virtio 1.2 3.1.1).
void VirtioStatus::write_driver_features(uint32_t value) {
    if (status_ & kFeaturesOk) {
        log_.warn("driver features written after FEATURES_OK: ignored");
        return;
    }
    if (driver_feature_select_ > 1) {
        if (value) log_.warn("driver features {:#x} in window {} ignored", value, driver_feature_select_);
        return;
    }
    if (driver_feature_select_ == 0)
        set_low_half(driver_features_, value);
    else
        set_high_half(driver_features_, value);
}

const QueueSetup* VirtioStatus::selected_queue() const {
    return queue_select_ < queues_.size() ? &queues_[queue_select_] : nullptr;
}

QueueSetup* VirtioStatus::writable_queue(std::string_view reg) {
    if (status_ & kDriverOk) {
        mark_broken(fmt::format("{} of queue {} written after DRIVER_OK", reg, queue_select_));
        return nullptr;
    }
    if (queue_select_ >= queues_.size()) {
        log_.warn("{} written for queue {}, which does not exist", reg, queue_select_);
        return nullptr;
    }
    return &queues_[queue_select_];
}

void VirtioStatus::write_queue_size(uint32_t size) {
    QueueSetup* q = writable_queue("queue size");
    if (!q) return;
    if (auto r = check_queue_size(size, queue_max_); !r) {
        log_.warn("queue {}: {}: refused", queue_select_, r.error().message);
        return;
    }
    q->size = static_cast<uint16_t>(size);
}

// 1 enables; 0 disables before DRIVER_OK (Linux's virtio-mmio driver writes
// it when it deletes its queues after a reset).
void VirtioStatus::write_queue_enable(uint32_t value) {
    QueueSetup* q = writable_queue("queue enable");
    if (!q) return;
    if (value == 1)
        q->enabled = true;
    else if (value == 0)
        q->enabled = false;
    else
        log_.warn("queue {}: enable value {:#x} ignored", queue_select_, value);
}

void VirtioStatus::notify(uint32_t index) {
    if (index >= queues_.size()) {
        log_.warn("notify for queue {}, which does not exist: ignored", index);
        return;
    }
    if (!(status_ & kDriverOk) || broken() || !queues_[index].enabled) {
        log::debug("{}: notify for queue {} before it runs: ignored", log_.who(), index);
        return;
    }
    device_.notify(static_cast<uint16_t>(index));
}

}  // namespace xenvhost::transport
