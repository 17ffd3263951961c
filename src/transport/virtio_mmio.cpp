#include "transport/virtio_mmio.hpp"

#include "transport/access_width.hpp"
#include "transport/config_window.hpp"

#include <fmt/core.h>

namespace xenvhost::transport {

namespace {
// Register offsets, virtio 1.2 4.2.2.
enum : uint64_t {
    kMagicValue = 0x000,
    kVersion = 0x004,
    kDeviceId = 0x008,
    kVendorId = 0x00c,
    kDeviceFeatures = 0x010,
    kDeviceFeaturesSel = 0x014,
    kDriverFeatures = 0x020,
    kDriverFeaturesSel = 0x024,
    kQueueSel = 0x030,
    kQueueNumMax = 0x034,
    kQueueNum = 0x038,
    kQueueReady = 0x044,
    kQueueNotify = 0x050,
    kInterruptStatus = 0x060,
    kInterruptAck = 0x064,
    kStatus = 0x070,
    kQueueDescLow = 0x080,
    kQueueDescHigh = 0x084,
    kQueueDriverLow = 0x090,
    kQueueDriverHigh = 0x094,
    kQueueDeviceLow = 0x0a0,
    kQueueDeviceHigh = 0x0a4,
    kShmSel = 0x0ac,
    kShmLenLow = 0x0b0,
    kShmLenHigh = 0x0b4,
    kShmBaseLow = 0x0b8,
    kShmBaseHigh = 0x0bc,
    kQueueReset = 0x0c0,
    kConfigGeneration = 0x0fc,
    kConfig = 0x100,
};
}  // namespace

Result<std::unique_ptr<VirtioMmio>> VirtioMmio::create(Platform& platform, VirtioDevice& device, uint64_t base,
                                                       uint32_t irq) {
    if (auto r = VirtioStatus::check_device(device); !r) return pass(r.error());
    const uint64_t last = base + (kMmioWindowSize - 1);
    if (last < base) return fail_as(ErrorKind::kPolicy, "virtio-mmio window at {:#x} wraps around", base);
    if (platform.overlaps_ram(base, last))
        return fail_as(ErrorKind::kPolicy, "virtio-mmio window {:#x}-{:#x} overlaps RAM", base, last);
    if (auto r = platform.claim_mmio(base, last); !r) return pass(r.error(), ErrorKind::kPolicy);
    return std::make_unique<VirtioMmio>(Key{}, platform, device, base, irq);
}

VirtioMmio::VirtioMmio(Key, Platform& platform, VirtioDevice& device, uint64_t base, uint32_t irq)
    : platform_(platform),
      device_(device),
      base_(base),
      irq_(irq),
      log_(fmt::format("mmio {:#x}", base)),
      interrupts_(platform),
      status_(device, interrupts_, *this, log_) {}

VirtioMmio::~VirtioMmio() {
    if (auto r = platform_.release_mmio(base_, base_ + (kMmioWindowSize - 1)); !r)
        log::warn("{}: release of its window failed: {}", describe(), r.error().message);
}

std::string VirtioMmio::describe() const { return fmt::format("mmio {:#x} irq {}", base_, irq_); }

uint64_t VirtioMmio::access(const IoAccess& a) {
    const unsigned size = a.size;
    const bool mine = a.kind == AccessKind::kMmio && a.addr >= base_ && a.addr - base_ < kMmioWindowSize &&
                      valid_access_size(size) && size <= kMmioWindowSize - (a.addr - base_);
    if (!mine) {
        log_.warn("{} of {} bytes at {:#x} refused", a.write ? "write" : "read", size, a.addr);
        return a.write ? 0 : all_ones(size);
    }
    const uint64_t offset = a.addr - base_;
    if (offset >= kConfig) {
        if (!a.write) return read_config(device_, offset - kConfig, size, kMmioWindowSize - kConfig, log_);
        write_config(device_, offset - kConfig, size, a.data, kMmioWindowSize - kConfig, log_);
        return 0;
    }
    if (size != 4 || offset % 4 != 0) {
        log_.warn("register {} of {} bytes at {:#x} refused: registers are 32-bit", a.write ? "write" : "read", size,
                  offset);
        return a.write ? 0 : all_ones(size);
    }
    if (!a.write) return read_register(offset);
    write_register(offset, static_cast<uint32_t>(a.data));
    return 0;
}

uint32_t VirtioMmio::read_register(uint64_t offset) {
    switch (offset) {
        case kMagicValue: return kMmioMagic;
        case kVersion: return 2;
        case kDeviceId: return device_.device_id();
        case kVendorId: return kMmioVendorId;
        case kDeviceFeatures: return status_.device_features_window();
        case kInterruptStatus: return interrupts_.status();
        case kStatus: return status_.status();
        case kShmLenLow:
        case kShmLenHigh:
        case kShmBaseLow:
        case kShmBaseHigh: return 0xffffffff;  // no shared memory region: length -1
        case kQueueReset: return 0;
        case kConfigGeneration: return device_.config_generation();
        default: break;
    }
    return read_queue_register(offset);
}

// Queue registers read back for the selected queue; a queue that does not
// exist has QueueNumMax 0, which is how the driver learns it is absent.
uint32_t VirtioMmio::read_queue_register(uint64_t offset) const {
    const QueueSetup* q = status_.selected_queue();
    switch (offset) {
        case kQueueNumMax: return q ? status_.queue_max_size() : 0;
        case kQueueNum: return q ? q->size : 0;
        case kQueueReady: return q && q->enabled;
        case kQueueDescLow: return q ? static_cast<uint32_t>(q->desc) : 0;
        case kQueueDescHigh: return q ? static_cast<uint32_t>(q->desc >> 32) : 0;
        case kQueueDriverLow: return q ? static_cast<uint32_t>(q->driver) : 0;
        case kQueueDriverHigh: return q ? static_cast<uint32_t>(q->driver >> 32) : 0;
        case kQueueDeviceLow: return q ? static_cast<uint32_t>(q->device) : 0;
        case kQueueDeviceHigh: return q ? static_cast<uint32_t>(q->device >> 32) : 0;
        default: return 0;  // write-only and reserved registers read 0, as on QEMU
    }
}

void VirtioMmio::write_register(uint64_t offset, uint32_t value) {
    switch (offset) {
        case kDeviceFeaturesSel: status_.select_device_features(value); return;
        case kDriverFeatures: status_.write_driver_features(value); return;
        case kDriverFeaturesSel: status_.select_driver_features(value); return;
        case kQueueSel:
            // Wider than any queue index: keep a value that names no queue.
            status_.select_queue(value > 0xffff ? 0xffff : static_cast<uint16_t>(value));
            return;
        case kQueueNotify: status_.notify(value); return;
        case kInterruptAck: interrupts_.acknowledge(static_cast<uint8_t>(value)); return;
        case kStatus: status_.write_status(static_cast<uint8_t>(value)); return;
        case kShmSel: shm_select_ = value; return;
        default: write_queue_register(offset, value); return;
    }
}

void VirtioMmio::write_queue_register(uint64_t offset, uint32_t value) {
    switch (offset) {
        case kQueueNum: status_.write_queue_size(value); return;
        case kQueueReady: status_.write_queue_enable(value); return;
        default: break;
    }
    // The six ring-address halves: which address, which half.
    struct Half {
        uint64_t reg;
        uint64_t QueueSetup::*field;
        bool high;
        const char* name;
    };
    static constexpr Half kHalves[] = {
        {kQueueDescLow, &QueueSetup::desc, false, "QueueDescLow"},
        {kQueueDescHigh, &QueueSetup::desc, true, "QueueDescHigh"},
        {kQueueDriverLow, &QueueSetup::driver, false, "QueueDriverLow"},
        {kQueueDriverHigh, &QueueSetup::driver, true, "QueueDriverHigh"},
        {kQueueDeviceLow, &QueueSetup::device, false, "QueueDeviceLow"},
        {kQueueDeviceHigh, &QueueSetup::device, true, "QueueDeviceHigh"},
    };
    for (const auto& h : kHalves) {
        if (h.reg != offset) continue;
        if (QueueSetup* q = status_.writable_queue(h.name)) (h.high ? set_high_half : set_low_half)(q->*h.field, value);
        return;
    }
    log_.warn("write of {:#x} to register {:#x} ignored: read-only or reserved", value, offset);
}

void VirtioMmio::queue_interrupt(uint16_t) { interrupts_.raise(kIsrQueue); }

void VirtioMmio::config_interrupt() { interrupts_.raise(kIsrConfig); }

void VirtioMmio::device_broken() { status_.mark_broken("the device reports it can no longer work"); }

}  // namespace xenvhost::transport
