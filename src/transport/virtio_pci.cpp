#include "transport/virtio_pci.hpp"

#include "transport/access_width.hpp"
#include "transport/config_window.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace xenvhost::transport {

using namespace pci;

namespace {
std::string pci_name(PciAddress a) {
    return fmt::format("pci {:04x}:{:02x}:{:02x}.{:x}", a.segment, a.bus, a.device, a.function);
}
}  // namespace

Result<std::unique_ptr<VirtioPci>> VirtioPci::create(Platform& platform, VirtioDevice& device, PciAddress address) {
    if (address.device > 31 || address.function > 7)
        return fail_as(ErrorKind::kPolicy, "no PCI function {:02x}.{:x}", address.device, address.function);
    if (device.device_id() == 0 || device.device_id() > 0xffff - kDeviceIdBase)
        return fail_as(ErrorKind::kPolicy, "virtio device type {} has no modern PCI device ID", device.device_id());
    if (auto r = VirtioStatus::check_device(device); !r) return pass(r.error());
    return std::make_unique<VirtioPci>(Key{}, platform, device, address);
}

VirtioPci::VirtioPci(Key, Platform& platform, VirtioDevice& device, PciAddress address)
    : device_(device),
      address_(address),
      log_(pci_name(address)),
      interrupts_(platform),
      status_(device, interrupts_, *this, log_),
      header_(device.device_id()),
      bar_(platform, log_, kBarSize),
      msix_(platform, log_, static_cast<uint16_t>(std::min<uint32_t>(device.num_queues() + 1u, kMaxMsixVectors))),
      common_(status_, device, msix_, log_) {}

std::string VirtioPci::describe() const { return pci_name(address_) + " intx A"; }

uint64_t VirtioPci::access(const IoAccess& a) {
    if (!valid_access_size(a.size)) {
        log_.warn("access of {} bytes at {:#x} refused", a.size, a.addr);
        return a.write ? 0 : all_ones(a.size);
    }
    if (a.kind == AccessKind::kPciConfig) return config_access(a);
    const auto offset = bar_.offset_of(a.addr, a.size);
    if (!offset) {
        log_.warn("{} at {:#x} outside the decoded BAR refused", a.write ? "write" : "read", a.addr);
        return a.write ? 0 : all_ones(a.size);
    }
    return bar_access(*offset, a.size, a.write, a.data);
}

// Any width at any offset: the access is cut into the dwords it touches,
// each with the byte enables of its part.
uint64_t VirtioPci::config_access(const IoAccess& a) {
    if (a.addr >= kConfigSpaceSize || a.size > kConfigSpaceSize - a.addr) {
        log_.warn("config {} of {} bytes at {:#x} past config space refused", a.write ? "write" : "read", a.size,
                  a.addr);
        return a.write ? 0 : all_ones(a.size);
    }
    uint64_t result = 0;
    for (uint64_t at = a.addr; at < a.addr + a.size;) {
        const auto reg = static_cast<uint32_t>(at & ~uint64_t{3});
        const unsigned first = at - reg, count = std::min<uint64_t>(4 - first, a.addr + a.size - at);
        const unsigned done = at - a.addr;
        const auto mask = static_cast<uint8_t>(((1u << count) - 1) << first);
        if (a.write) {
            const auto part = static_cast<uint32_t>(low_bytes(a.data >> (8 * done), count) << (8 * first));
            if (reg < kHeaderSize) write_config_dword(reg, part, mask);
        } else {
            const uint32_t value = reg < kHeaderSize ? read_config_dword(reg) : 0;  // extended space: zeros
            result |= low_bytes(value >> (8 * first), count) << (8 * done);
        }
        at += count;
    }
    return result;
}

uint32_t VirtioPci::read_config_dword(uint32_t reg) {
    switch (reg) {
        case kBar0: return bar_.read_low();
        case kBar1: return bar_.read_high();
        case kCommand: {
            // The status bit shows INTx's state, which MSI-X takes out of use.
            const uint32_t status = interrupts_.status() && !msix_.enabled() ? kStatusInterrupt : 0;
            return header_.read(reg) | status << 16;
        }
        case kCapMsix: return read_msix_dword();
        case kCapPciData: cfg_window(false); break;
        default: break;
    }
    return header_.read(reg);
}

void VirtioPci::write_config_dword(uint32_t reg, uint32_t value, uint8_t byte_mask) {
    switch (reg) {
        case kBar0:
            bar_.write_low(value, byte_mask);
            apply_command();
            return;
        case kBar1:
            bar_.write_high(value, byte_mask);
            apply_command();
            return;
        case kCapMsix: write_msix_dword(value, byte_mask); return;
        default: break;
    }
    header_.write(reg, value, byte_mask);
    if (reg == kCommand) apply_command();
    if (reg == kCapPciData) cfg_window(true);
}

// A function with MSI-X enabled may not use its INTx pin (PCI 3.0 6.8): the
// line drops when MSI-X is enabled, and comes back (if the ISR still has
// bits) when it is disabled.
void VirtioPci::apply_command() {
    const uint16_t command = header_.command();
    bar_.update(command & kCommandMemory);
    interrupts_.set_masked((command & kCommandIntxDisable) || msix_.enabled());
}

// The capability's id and next come from the header, Message Control from
// the table.
uint32_t VirtioPci::read_msix_dword() { return (header_.read(kCapMsix) & 0xffff) | uint32_t{msix_.control()} << 16; }

// Only byte 3 of Message Control holds writable bits (Function Mask, Enable).
void VirtioPci::write_msix_dword(uint32_t value, uint8_t byte_mask) {
    if (!(byte_mask & 0x8)) return;
    const auto control = static_cast<uint16_t>((msix_.control() & 0x00ff) | ((value >> 16) & 0xff00));
    msix_.write_control(control);
    apply_command();
}

// VIRTIO_PCI_CAP_PCI_CFG: the driver named a BAR, offset and length in the
// capability; touching pci_cfg_data does that access on the BAR, decoded
// or not (virtio 1.2 4.1.4.9).
void VirtioPci::cfg_window(bool write) {
    const uint8_t bar = header_.read(kCapPciBar) & 0xff;
    const uint32_t offset = header_.read(kCapPciOffset), length = header_.read(kCapPciLength);
    const bool valid = bar == kBarIndex && (length == 1 || length == 2 || length == 4) && offset % length == 0 &&
                       offset < kBarSize && length <= kBarSize - offset;
    if (!valid) {
        log_.warn("PCI cfg window bar {} offset {:#x} length {} refused", bar, offset, length);
        return;
    }
    if (write) {
        bar_access(offset, length, true, header_.read(kCapPciData));
        return;
    }
    header_.store(kCapPciData, static_cast<uint32_t>(bar_access(offset, length, false, 0)));
}

uint64_t VirtioPci::bar_access(uint64_t offset, unsigned size, bool write, uint64_t data) {
    const uint64_t region = offset & ~(kRegionSize - 1), inside = offset - region;
    if (inside + size > kRegionSize) {
        log_.warn("BAR access of {} bytes at {:#x} crosses a region: refused", size, offset);
        return write ? 0 : all_ones(size);
    }
    switch (region) {
        case kCommonRegion:
            if (write) common_.write(inside, size, data);
            return write ? 0 : common_.read(inside, size);
        case kIsrRegion: return isr_access(inside, size, write);
        case kDeviceRegion:
            if (write) write_config(device_, inside, size, data, kRegionSize, log_);
            return write ? 0 : read_config(device_, inside, size, kRegionSize, log_);
        case kNotifyRegion: notify_access(inside, size, write); return 0;
        case kMsixTableRegion:
            if (write) msix_.table_write(inside, size, data);
            return write ? 0 : msix_.table_read(inside, size);
        case kMsixPbaRegion:
            if (write) msix_.pba_write(inside, size);
            return write ? 0 : msix_.pba_read(inside, size);
        default:
            log_.warn("BAR {} of {} bytes at {:#x}, where nothing is, refused", write ? "write" : "read", size, offset);
            return write ? 0 : all_ones(size);
    }
}

// The ISR byte: reading it clears it (and drops the line).
uint64_t VirtioPci::isr_access(uint64_t offset, unsigned size, bool write) {
    if (offset != 0 || write || size == 8) {
        log_.warn("ISR {} of {} bytes at {:#x} refused", write ? "write" : "read", size, offset);
        return write ? 0 : all_ones(size);
    }
    return interrupts_.take();
}

// Queue i's slot is at i * kNotifyMultiplier; the value written is the
// queue index again and carries nothing more (no NOTIFICATION_DATA).
void VirtioPci::notify_access(uint64_t offset, unsigned size, bool write) {
    if (!write) return;  // reads give 0, as on QEMU
    if (offset % kNotifyMultiplier != 0 || size > 4) {
        log_.warn("notify write of {} bytes at {:#x} refused", size, offset);
        return;
    }
    status_.notify(static_cast<uint32_t>(offset / kNotifyMultiplier));
}

// With MSI-X enabled the queue bit stays out of the ISR (virtio 1.2
// 4.1.4.5: set only while MSI-X is disabled), so a later fall back to INTx
// does not start with stale bits.
void VirtioPci::queue_interrupt(uint16_t index) {
    if (msix_.enabled())
        msix_.signal(common_.queue_vector(index));
    else
        interrupts_.raise(kIsrQueue);
}

// The config bit is set either way (virtio 1.2 4.1.4.5).
void VirtioPci::config_interrupt() {
    interrupts_.raise(kIsrConfig);
    if (msix_.enabled()) msix_.signal(common_.config_vector());
}

void VirtioPci::device_broken() { status_.mark_broken("the device reports it can no longer work"); }

}  // namespace xenvhost::transport
