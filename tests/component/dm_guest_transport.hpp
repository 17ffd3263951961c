#pragma once
// The guest's virtio drivers' view of one device of xenvhost-dm, every
// register access a real ioreq through the double (IoreqGuest plays the
// vCPU): virtio-pci as Linux's virtio_pci_modern finds and programs it
// (config space, capability walk, BAR sizing and placement, the common
// config, ISR and notify regions) and virtio-mmio version 2. An access that
// gets no answer from the device model (a vCPU left waiting) throws
// GuestHang: the test fails with what it was doing.

#include "frontend/ioreq_guest.hpp"

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

namespace xenvhost::component {

struct GuestHang : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// What a virtio driver needs of a transport, in the order it uses it.
class GuestTransport {
public:
    virtual ~GuestTransport() = default;
    virtual uint8_t status() = 0;
    virtual void set_status(uint8_t status) = 0;
    virtual uint64_t device_features() = 0;
    virtual void set_driver_features(uint64_t features) = 0;
    virtual void select_queue(uint16_t index) = 0;
    virtual uint32_t queue_max() = 0;  // for the selected queue; 0: it does not exist
    virtual void set_queue_size(uint32_t size) = 0;
    virtual uint32_t queue_size() = 0;
    virtual void set_queue_rings(uint64_t desc, uint64_t driver, uint64_t device) = 0;
    virtual void enable_queue() = 0;
    virtual void notify(uint16_t index) = 0;
    virtual uint32_t config_generation() = 0;
    virtual uint64_t read_config(uint32_t offset, unsigned size) = 0;
    virtual void write_config(uint32_t offset, unsigned size, uint64_t value) = 0;
    // The interrupt handler's read: PCI's ISR (read-to-clear), virtio-mmio's
    // InterruptStatus then InterruptACK of what it read.
    virtual uint8_t take_interrupt() = 0;
    // The line's level as the double recorded it.
    virtual bool line() const = 0;
    // The vCPU the accesses come from.
    unsigned vcpu = 0;
};

// Raw access with the failure turned into GuestHang.
uint64_t mmio_read(frontend::IoreqGuest& g, uint64_t addr, unsigned size, unsigned vcpu);
void mmio_write(frontend::IoreqGuest& g, uint64_t addr, unsigned size, uint64_t value, unsigned vcpu);

// Where the virtio capabilities put each structure (offsets in the BAR).
struct VirtioPciCaps {
    int common_bar = -1, notify_bar = -1, isr_bar = -1, device_bar = -1;
    uint32_t common = 0, notify = 0, isr = 0, device = 0;
    uint32_t device_length = 0;
    uint32_t notify_multiplier = 0;
    bool pci_cfg = false;
    unsigned count = 0;  // capabilities on the list
};

class PciGuest final : public GuestTransport {
public:
    static constexpr uint16_t kCommandMemory = 0x2, kCommandMaster = 0x4;
    PciGuest(frontend::IoreqGuest& g, uint8_t slot);

    uint32_t sbdf() const { return sbdf_; }
    uint8_t slot() const { return slot_; }
    uint64_t config_read(uint32_t reg, unsigned size);
    void config_write(uint32_t reg, unsigned size, uint64_t value);
    // Follows the capability pointer (bounded: a loop ends the walk).
    VirtioPciCaps walk_capabilities();
    // Linux's __pci_read_base for a 64-bit BAR: decoding off, all ones in
    // both halves, the size from what reads back, the old value restored.
    uint64_t size_bar();
    // Both halves, then memory decoding and bus mastering on.
    void place_bar(uint64_t address);
    void set_command(uint16_t command);
    uint64_t bar() const { return bar_; }
    const VirtioPciCaps& caps() const { return caps_; }
    // The common config at `offset` (struct virtio_pci_common_cfg).
    uint64_t common_read(uint32_t offset, unsigned size);
    void common_write(uint32_t offset, unsigned size, uint64_t value);

    uint8_t status() override;
    void set_status(uint8_t status) override;
    uint64_t device_features() override;
    void set_driver_features(uint64_t features) override;
    void select_queue(uint16_t index) override;
    uint32_t queue_max() override;
    void set_queue_size(uint32_t size) override;
    uint32_t queue_size() override;
    void set_queue_rings(uint64_t desc, uint64_t driver, uint64_t device) override;
    void enable_queue() override;
    void notify(uint16_t index) override;
    uint32_t config_generation() override;
    uint64_t read_config(uint32_t offset, unsigned size) override;
    void write_config(uint32_t offset, unsigned size, uint64_t value) override;
    uint8_t take_interrupt() override;
    bool line() const override;

private:
    frontend::IoreqGuest& g_;
    uint8_t slot_;
    uint32_t sbdf_;
    uint64_t bar_ = 0;
    uint32_t queue_max_ = 0;  // what queue_size read right after select
    uint16_t selected_ = 0;
    std::map<uint16_t, uint64_t> notify_off_;  // read when a queue is enabled, as Linux does
    VirtioPciCaps caps_;
};

class MmioGuest final : public GuestTransport {
public:
    MmioGuest(frontend::IoreqGuest& g, uint64_t base, unsigned irq) : g_(g), base_(base), irq_(irq) {}
    uint32_t reg(uint32_t offset);
    void set_reg(uint32_t offset, uint32_t value);

    uint8_t status() override;
    void set_status(uint8_t status) override;
    uint64_t device_features() override;
    void set_driver_features(uint64_t features) override;
    void select_queue(uint16_t index) override;
    uint32_t queue_max() override;
    void set_queue_size(uint32_t size) override;
    uint32_t queue_size() override;
    void set_queue_rings(uint64_t desc, uint64_t driver, uint64_t device) override;
    void enable_queue() override;
    void notify(uint16_t index) override;
    uint32_t config_generation() override;
    uint64_t read_config(uint32_t offset, unsigned size) override;
    void write_config(uint32_t offset, unsigned size, uint64_t value) override;
    uint8_t take_interrupt() override;
    bool line() const override;

private:
    frontend::IoreqGuest& g_;
    uint64_t base_;
    unsigned irq_;
};

}  // namespace xenvhost::component
