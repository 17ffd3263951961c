#include "transport/pci_common_cfg.hpp"

#include "transport/access_width.hpp"

#include <algorithm>

namespace xenvhost::transport::pci {

namespace {
// Field offsets of struct virtio_pci_common_cfg (and the modern tail that
// Linux maps: queue_notify_data, queue_reset, admin queue fields).
enum : uint64_t {
    kDeviceFeatureSelect = 0x00,
    kDeviceFeature = 0x04,
    kDriverFeatureSelect = 0x08,
    kDriverFeature = 0x0c,
    kMsixConfig = 0x10,
    kNumQueues = 0x12,
    kDeviceStatus = 0x14,
    kConfigGeneration = 0x15,
    kQueueSelect = 0x16,
    kQueueSize = 0x18,
    kQueueMsixVector = 0x1a,
    kQueueEnable = 0x1c,
    kQueueNotifyOff = 0x1e,
    kQueueDescLo = 0x20,
    kQueueDeviceHi = 0x34,
    kEnd = 0x40,
};

// The width of the field that starts at `offset`, 0 if none does.
unsigned field_width(uint64_t offset) {
    if (offset < kMsixConfig) return offset % 4 == 0 ? 4 : 0;
    if (offset == kDeviceStatus || offset == kConfigGeneration) return 1;
    if (offset < kQueueDescLo) return offset % 2 == 0 ? 2 : 0;
    if (offset <= kQueueDeviceHi) return offset % 4 == 0 ? 4 : 0;
    if (offset < kEnd) return offset % 2 == 0 ? 2 : 0;
    return 0;
}
}  // namespace

PciCommonConfig::PciCommonConfig(VirtioStatus& status, const VirtioDevice& device, MsixTable& msix, GuestLog& log)
    : status_(status), device_(device), msix_(msix), log_(log), queue_vectors_(status.num_queues(), kNoVector) {}

uint16_t PciCommonConfig::queue_vector(uint16_t index) const {
    return index < queue_vectors_.size() ? queue_vectors_[index] : kNoVector;
}

bool PciCommonConfig::natural(uint64_t offset, unsigned size, bool write) const {
    if (field_width(offset) == size) return true;
    log_.warn("common config {} of {} bytes at {:#x} refused: not a field of that width", write ? "write" : "read",
              size, offset);
    return false;
}

uint64_t PciCommonConfig::read(uint64_t offset, unsigned size) {
    if (size == 8) return read(offset, 4) | read(offset + 4, 4) << 32;
    if (!natural(offset, size, false)) return all_ones(size);
    return read_field(offset);
}

void PciCommonConfig::write(uint64_t offset, unsigned size, uint64_t value) {
    if (size == 8) {
        write(offset, 4, static_cast<uint32_t>(value));
        write(offset + 4, 4, value >> 32);
        return;
    }
    if (natural(offset, size, true)) write_field(offset, static_cast<uint32_t>(low_bytes(value, size)));
}

uint32_t PciCommonConfig::read_field(uint64_t offset) const {
    switch (offset) {
        case kDeviceFeatureSelect: return status_.device_feature_select();
        case kDeviceFeature: return status_.device_features_window();
        case kDriverFeatureSelect: return status_.driver_feature_select();
        case kDriverFeature: return status_.driver_features_window();
        case kMsixConfig: return config_vector_;
        case kNumQueues: return status_.num_queues();
        case kDeviceStatus: return status_.status();
        case kConfigGeneration: return static_cast<uint8_t>(device_.config_generation());
        case kQueueSelect: return status_.queue_select();
        default: return read_queue_field(offset);
    }
}

// A queue that does not exist reads size 0: how the driver learns it is absent.
uint32_t PciCommonConfig::read_queue_field(uint64_t offset) const {
    const QueueSetup* q = status_.selected_queue();
    if (offset == kQueueMsixVector) return queue_vector(status_.queue_select());
    if (!q) return 0;
    switch (offset) {
        case kQueueSize: return q->size;
        case kQueueEnable: return q->enabled;
        case kQueueNotifyOff: return status_.queue_select();  // slot i at i * kNotifyMultiplier
        case kQueueDescLo: return static_cast<uint32_t>(q->desc);
        case kQueueDescLo + 4: return static_cast<uint32_t>(q->desc >> 32);
        case kQueueDescLo + 8: return static_cast<uint32_t>(q->driver);
        case kQueueDescLo + 12: return static_cast<uint32_t>(q->driver >> 32);
        case kQueueDescLo + 16: return static_cast<uint32_t>(q->device);
        case kQueueDescLo + 20: return static_cast<uint32_t>(q->device >> 32);
        default: return 0;  // the modern tail: its features are not offered
    }
}

void PciCommonConfig::write_field(uint64_t offset, uint32_t value) {
    switch (offset) {
        case kDeviceFeatureSelect: status_.select_device_features(value); return;
        case kDriverFeatureSelect: status_.select_driver_features(value); return;
        case kDriverFeature: status_.write_driver_features(value); return;
        case kMsixConfig: config_vector_ = checked_vector(value, "config"); return;
        case kQueueMsixVector:
            if (status_.queue_select() < queue_vectors_.size())
                queue_vectors_[status_.queue_select()] = checked_vector(value, "queue");
            else
                log_.warn("MSI-X vector {:#x} for queue {}, which does not exist: ignored", value,
                          status_.queue_select());
            return;
        case kDeviceStatus:
            status_.write_status(static_cast<uint8_t>(value));
            if (value == 0) reset_vectors();
            return;
        case kQueueSelect: status_.select_queue(static_cast<uint16_t>(value)); return;
        case kQueueSize: status_.write_queue_size(value); return;
        case kQueueEnable: status_.write_queue_enable(value); return;
        default: break;
    }
    if (offset >= kQueueDescLo && offset <= kQueueDeviceHi) {
        write_queue_address(offset, value);
        return;
    }
    log_.warn("common config write of {:#x} at {:#x} ignored: read-only or not offered", value, offset);
}

// Any time, running or not, as QEMU allows: Linux unmaps a queue's vector
// after the reset that stops it.
uint16_t PciCommonConfig::checked_vector(uint32_t value, const char* what) {
    if (value < msix_.size()) return static_cast<uint16_t>(value);
    if (value != kNoVector)
        log_.warn("{} MSI-X vector {} beyond the table of {}: NO_VECTOR", what, value, msix_.size());
    return kNoVector;
}

// A device reset unmaps every event (as QEMU's virtio_reset does); what the
// old device state left pending goes with it.
void PciCommonConfig::reset_vectors() {
    config_vector_ = kNoVector;
    std::fill(queue_vectors_.begin(), queue_vectors_.end(), kNoVector);
    msix_.clear_pending();
}

void PciCommonConfig::write_queue_address(uint64_t offset, uint32_t value) {
    QueueSetup* q = status_.writable_queue("ring address");
    if (!q) return;
    const uint64_t index = (offset - kQueueDescLo) / 4;  // desc lo, hi, driver lo, hi, device lo, hi
    uint64_t& address = index < 2 ? q->desc : index < 4 ? q->driver : q->device;
    (index % 2 ? set_high_half : set_low_half)(address, value);
}

}  // namespace xenvhost::transport::pci
