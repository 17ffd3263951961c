#include "dm_guest_transport.hpp"

#include "xendouble/ioreq_layout.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace xenvhost::component {

namespace {
// struct virtio_pci_common_cfg.
enum : uint32_t {
    kDeviceFeatureSelect = 0x00,
    kDeviceFeature = 0x04,
    kDriverFeatureSelect = 0x08,
    kDriverFeature = 0x0c,
    kDeviceStatus = 0x14,
    kConfigGeneration = 0x15,
    kMsixConfig = 0x10,
    kQueueSelect = 0x16,
    kQueueSize = 0x18,
    kQueueMsixVector = 0x1a,
    kQueueEnable = 0x1c,
    kQueueNotifyOff = 0x1e,
    kQueueDesc = 0x20,
    kQueueDriver = 0x28,
    kQueueDevice = 0x30,
};
// virtio-mmio registers.
enum : uint32_t {
    kMmioDeviceFeatures = 0x10,
    kMmioDeviceFeaturesSel = 0x14,
    kMmioDriverFeatures = 0x20,
    kMmioDriverFeaturesSel = 0x24,
    kMmioQueueSel = 0x30,
    kMmioQueueNumMax = 0x34,
    kMmioQueueNum = 0x38,
    kMmioQueueReady = 0x44,
    kMmioQueueNotify = 0x50,
    kMmioInterruptStatus = 0x60,
    kMmioInterruptAck = 0x64,
    kMmioStatus = 0x70,
    kMmioQueueDesc = 0x80,
    kMmioQueueDriver = 0x90,
    kMmioQueueDevice = 0xa0,
    kMmioConfigGeneration = 0xfc,
    kMmioConfig = 0x100,
};
}  // namespace

uint64_t mmio_read(frontend::IoreqGuest& g, uint64_t addr, unsigned size, unsigned vcpu) {
    auto r = g.mmio_read(addr, size, vcpu);
    if (!r) throw GuestHang(r.error().message);
    return *r;
}

void mmio_write(frontend::IoreqGuest& g, uint64_t addr, unsigned size, uint64_t value, unsigned vcpu) {
    if (auto r = g.mmio_write(addr, size, value, vcpu); !r) throw GuestHang(r.error().message);
}

// ---------------------------------------------------------------- PCI

PciGuest::PciGuest(frontend::IoreqGuest& g, uint8_t slot)
    : g_(g), slot_(slot), sbdf_(xendouble::pci_sbdf(0, 0, slot, 0)) {}

uint64_t PciGuest::config_read(uint32_t reg, unsigned size) {
    auto r = g_.pci_config_read(sbdf_, reg, size, vcpu);
    if (!r) throw GuestHang(r.error().message);
    return *r;
}

void PciGuest::config_write(uint32_t reg, unsigned size, uint64_t value) {
    if (auto r = g_.pci_config_write(sbdf_, reg, size, value, vcpu); !r) throw GuestHang(r.error().message);
}

VirtioPciCaps PciGuest::walk_capabilities() {
    VirtioPciCaps c;
    if (!(config_read(0x06, 2) & 0x10)) return c;  // no capability list
    uint32_t at = config_read(0x34, 1) & 0xfc;
    for (unsigned n = 0; at >= 0x40 && n < 48; ++n, at = config_read(at + 1, 1) & 0xfc) {
        ++c.count;
        if (config_read(at, 1) == 0x11) {  // MSI-X
            c.msix_at = at;
            c.msix_size = (config_read(at + 2, 2) & 0x7ff) + 1;
            const auto table = static_cast<uint32_t>(config_read(at + 4, 4));
            const auto pba = static_cast<uint32_t>(config_read(at + 8, 4));
            c.msix_bar = static_cast<int>(table & 7), c.msix_table = table & ~7u;
            c.msix_pba_bar = static_cast<int>(pba & 7), c.msix_pba = pba & ~7u;
            continue;
        }
        if (config_read(at, 1) != 0x09) continue;  // not a vendor capability
        const auto type = static_cast<uint8_t>(config_read(at + 3, 1));
        const int bar = static_cast<int>(config_read(at + 4, 1));
        const auto offset = static_cast<uint32_t>(config_read(at + 8, 4));
        switch (type) {
            case 1: c.common_bar = bar, c.common = offset; break;
            case 2:
                c.notify_bar = bar, c.notify = offset;
                c.notify_multiplier = static_cast<uint32_t>(config_read(at + 16, 4));
                break;
            case 3: c.isr_bar = bar, c.isr = offset; break;
            case 4:
                c.device_bar = bar, c.device = offset;
                c.device_length = static_cast<uint32_t>(config_read(at + 12, 4));
                break;
            case 5: c.pci_cfg = true; break;
            default: break;
        }
    }
    caps_ = c;
    return c;
}

uint64_t PciGuest::size_bar() {
    const auto command = static_cast<uint16_t>(config_read(0x04, 2));
    set_command(command & ~kCommandMemory);
    const uint64_t lo = config_read(0x10, 4), hi = config_read(0x14, 4);
    config_write(0x10, 4, 0xffffffff);
    config_write(0x14, 4, 0xffffffff);
    const uint64_t mask = (config_read(0x14, 4) << 32) | (config_read(0x10, 4) & ~uint64_t{0xf});
    config_write(0x10, 4, lo);
    config_write(0x14, 4, hi);
    set_command(command);
    return ~mask + 1;
}

void PciGuest::place_bar(uint64_t address) {
    config_write(0x10, 4, address & 0xffffffff);
    config_write(0x14, 4, address >> 32);
    set_command(kCommandMemory | kCommandMaster);
    bar_ = address;
}

void PciGuest::set_command(uint16_t command) { config_write(0x04, 2, command); }

uint64_t PciGuest::common_read(uint32_t offset, unsigned size) {
    return mmio_read(g_, bar_ + caps_.common + offset, size, vcpu);
}

void PciGuest::common_write(uint32_t offset, unsigned size, uint64_t value) {
    mmio_write(g_, bar_ + caps_.common + offset, size, value, vcpu);
}

uint8_t PciGuest::status() { return static_cast<uint8_t>(common_read(kDeviceStatus, 1)); }
void PciGuest::set_status(uint8_t status) { common_write(kDeviceStatus, 1, status); }

uint64_t PciGuest::device_features() {
    common_write(kDeviceFeatureSelect, 4, 0);
    const uint64_t lo = common_read(kDeviceFeature, 4);
    common_write(kDeviceFeatureSelect, 4, 1);
    return common_read(kDeviceFeature, 4) << 32 | lo;
}

void PciGuest::set_driver_features(uint64_t features) {
    common_write(kDriverFeatureSelect, 4, 0);
    common_write(kDriverFeature, 4, features & 0xffffffff);
    common_write(kDriverFeatureSelect, 4, 1);
    common_write(kDriverFeature, 4, features >> 32);
}

void PciGuest::select_queue(uint16_t index) {
    common_write(kQueueSelect, 2, index);
    selected_ = index;
    queue_max_ = static_cast<uint32_t>(common_read(kQueueSize, 2));
}

uint32_t PciGuest::queue_max() { return queue_max_; }
void PciGuest::set_queue_size(uint32_t size) { common_write(kQueueSize, 2, size); }
uint32_t PciGuest::queue_size() { return static_cast<uint32_t>(common_read(kQueueSize, 2)); }

// vp_iowrite64_twopart: low half, then high half.
void PciGuest::set_queue_rings(uint64_t desc, uint64_t driver, uint64_t device) {
    for (auto [reg, value] : {std::pair{kQueueDesc, desc}, {kQueueDriver, driver}, {kQueueDevice, device}}) {
        common_write(reg, 4, value & 0xffffffff);
        common_write(reg + 4, 4, value >> 32);
    }
}

void PciGuest::enable_queue() {
    notify_off_[selected_] = common_read(kQueueNotifyOff, 2);
    common_write(kQueueEnable, 2, 1);
}

// vp_notify: the queue's index, 16 bits, at its notify_off times the
// multiplier (a queue never enabled: its index, what a hostile driver picks).
void PciGuest::notify(uint16_t index) {
    const auto known = notify_off_.find(index);
    const uint64_t off = known != notify_off_.end() ? known->second : index;
    mmio_write(g_, bar_ + caps_.notify + off * caps_.notify_multiplier, 2, index, vcpu);
}

uint32_t PciGuest::config_generation() { return static_cast<uint32_t>(common_read(kConfigGeneration, 1)); }

uint64_t PciGuest::read_config(uint32_t offset, unsigned size) {
    return mmio_read(g_, bar_ + caps_.device + offset, size, vcpu);
}

void PciGuest::write_config(uint32_t offset, unsigned size, uint64_t value) {
    mmio_write(g_, bar_ + caps_.device + offset, size, value, vcpu);
}

uint8_t PciGuest::take_interrupt() { return static_cast<uint8_t>(mmio_read(g_, bar_ + caps_.isr, 1, vcpu)); }

bool PciGuest::line() const { return g_.intx_level(slot_, 0) != 0; }

frontend::IoreqGuest::Msi PciGuest::message(uint16_t vector) {
    const uint32_t pirq = 0x130 + vector;
    return {uint64_t{pirq >> 8 << 8} << 32 | 0xfee00000 | (pirq & 0xff) << 12, 0x700};
}

uint16_t PciGuest::msix_control() { return static_cast<uint16_t>(config_read(caps_.msix_at + 2, 2)); }
void PciGuest::set_msix_control(uint16_t value) {
    config_write(caps_.msix_at + 2, 2, value);
    msix_ = value & 0x8000;
}

void PciGuest::mask_vector(uint16_t vector, bool masked) {
    mmio_write(g_, table_entry(vector) + 12, 4, masked ? 1 : 0, vcpu);
}

void PciGuest::program_vector(uint16_t vector, const frontend::IoreqGuest::Msi& m) {
    mmio_write(g_, table_entry(vector), 4, m.address & 0xffffffff, vcpu);
    mmio_write(g_, table_entry(vector) + 4, 4, m.address >> 32, vcpu);
    mmio_write(g_, table_entry(vector) + 8, 4, m.data, vcpu);
    programmed_[vector] = m;
}

bool PciGuest::enable_msix() {
    if (!caps_.msix_at || caps_.msix_bar != 0) return false;
    set_msix_control(0xc000);
    for (uint16_t v = 0; v < caps_.msix_size; ++v) program_vector(v, message(v));
    set_command(kCommandMemory | kCommandMaster | kCommandIntxDisable);
    msi_next_ = g_.msi_count();
    msi_seen_.clear();
    set_msix_control(0x8000);
    return msix_control() & 0x8000;
}

void PciGuest::disable_msix() {
    set_msix_control(0x0000);
    set_command(kCommandMemory | kCommandMaster);
}

uint16_t PciGuest::set_config_vector(uint16_t vector) {
    common_write(kMsixConfig, 2, vector);
    return static_cast<uint16_t>(common_read(kMsixConfig, 2));
}

uint16_t PciGuest::set_queue_vector(uint16_t vector) {
    common_write(kQueueMsixVector, 2, vector);
    const auto kept = static_cast<uint16_t>(common_read(kQueueMsixVector, 2));
    queue_vector_[selected_] = kept;
    return kept;
}

const std::vector<frontend::IoreqGuest::Msi>& PciGuest::msis_seen() {
    const auto log = g_.msis(msi_next_);
    msi_missed_ += log.first - msi_next_;
    msi_seen_.insert(msi_seen_.end(), log.entries.begin(), log.entries.end());
    msi_next_ = log.total;
    return msi_seen_;
}

std::optional<uint64_t> PciGuest::queue_messages(uint16_t index) {
    if (!msix_) return std::nullopt;
    const auto v = queue_vector_.find(index);
    if (v == queue_vector_.end() || v->second >= caps_.msix_size) return 0;
    const auto want = programmed_.at(v->second);
    const auto& seen = msis_seen();
    return static_cast<uint64_t>(std::count(seen.begin(), seen.end(), want));
}

// ---------------------------------------------------------------- MMIO

uint32_t MmioGuest::reg(uint32_t offset) { return static_cast<uint32_t>(mmio_read(g_, base_ + offset, 4, vcpu)); }
void MmioGuest::set_reg(uint32_t offset, uint32_t value) { mmio_write(g_, base_ + offset, 4, value, vcpu); }

uint8_t MmioGuest::status() { return static_cast<uint8_t>(reg(kMmioStatus)); }
void MmioGuest::set_status(uint8_t status) { set_reg(kMmioStatus, status); }

uint64_t MmioGuest::device_features() {
    set_reg(kMmioDeviceFeaturesSel, 0);
    const uint64_t lo = reg(kMmioDeviceFeatures);
    set_reg(kMmioDeviceFeaturesSel, 1);
    return uint64_t{reg(kMmioDeviceFeatures)} << 32 | lo;
}

void MmioGuest::set_driver_features(uint64_t features) {
    set_reg(kMmioDriverFeaturesSel, 0);
    set_reg(kMmioDriverFeatures, static_cast<uint32_t>(features));
    set_reg(kMmioDriverFeaturesSel, 1);
    set_reg(kMmioDriverFeatures, static_cast<uint32_t>(features >> 32));
}

void MmioGuest::select_queue(uint16_t index) { set_reg(kMmioQueueSel, index); }
uint32_t MmioGuest::queue_max() { return reg(kMmioQueueNumMax); }
void MmioGuest::set_queue_size(uint32_t size) { set_reg(kMmioQueueNum, size); }
uint32_t MmioGuest::queue_size() { return reg(kMmioQueueNum); }

void MmioGuest::set_queue_rings(uint64_t desc, uint64_t driver, uint64_t device) {
    for (auto [at, value] : {std::pair{kMmioQueueDesc, desc}, {kMmioQueueDriver, driver}, {kMmioQueueDevice, device}}) {
        set_reg(at, static_cast<uint32_t>(value));
        set_reg(at + 4, static_cast<uint32_t>(value >> 32));
    }
}

void MmioGuest::enable_queue() { set_reg(kMmioQueueReady, 1); }
void MmioGuest::notify(uint16_t index) { set_reg(kMmioQueueNotify, index); }
uint32_t MmioGuest::config_generation() { return reg(kMmioConfigGeneration); }

uint64_t MmioGuest::read_config(uint32_t offset, unsigned size) {
    return mmio_read(g_, base_ + kMmioConfig + offset, size, vcpu);
}

void MmioGuest::write_config(uint32_t offset, unsigned size, uint64_t value) {
    mmio_write(g_, base_ + kMmioConfig + offset, size, value, vcpu);
}

// vm_interrupt: read the status, acknowledge exactly that.
uint8_t MmioGuest::take_interrupt() {
    const uint32_t status = reg(kMmioInterruptStatus);
    set_reg(kMmioInterruptAck, status);
    return static_cast<uint8_t>(status);
}

bool MmioGuest::line() const { return g_.irq_level(irq_) != 0; }

}  // namespace xenvhost::component
