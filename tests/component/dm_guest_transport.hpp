#pragma once
// The guest's virtio drivers' view of one device of xenvhost-dm, every
// register access a real ioreq through the double (IoreqGuest plays the
// vCPU): virtio-pci as Linux's virtio_pci_modern finds and programs it
// (config space, capability walk, BAR sizing and placement, the common
// config, ISR and notify regions, MSI-X as Linux's PCI core programs it for
// a PVHVM guest) and virtio-mmio version 2. An access that
// gets no answer from the device model (a vCPU left waiting) throws
// GuestHang: the test fails with what it was doing.

#include "frontend/ioreq_guest.hpp"

#include <cstdint>
#include <map>
#include <optional>
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
    // MSI-X (virtio-pci): enabled with a message per vector, false where
    // the transport has none. Then the vector fields, as the driver reads
    // them back after writing.
    virtual bool enable_msix() { return false; }
    virtual uint16_t set_config_vector(uint16_t) { return 0xffff; }
    virtual uint16_t set_queue_vector(uint16_t) { return 0xffff; }  // of the selected queue
    // With MSI-X enabled: the MSIs the double recorded with queue `index`'s
    // message (an interrupt handler's count); nullopt while the transport
    // signals through its line.
    virtual std::optional<uint64_t> queue_messages(uint16_t) { return std::nullopt; }
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
    // MSI-X: table size, and where the table and PBA are (BAR, offset).
    uint32_t msix_at = 0, msix_size = 0, msix_table = 0, msix_pba = 0;
    int msix_bar = -1, msix_pba_bar = -1;
    unsigned count = 0;  // capabilities on the list
};

class PciGuest final : public GuestTransport {
public:
    static constexpr uint16_t kCommandMemory = 0x2, kCommandMaster = 0x4, kCommandIntxDisable = 0x400;
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

    // Linux's msix_capability_init in a PVHVM guest: enabled under the
    // function mask, each entry given its message (xen_hvm_setup_msi_irqs)
    // and left masked (pci_msi_ignore_mask: Xen masks pirqs itself), INTx
    // disabled, the function mask cleared.
    bool enable_msix() override;
    // pci_disable_msix: MSI-X off, INTx on again.
    void disable_msix();
    uint16_t set_config_vector(uint16_t vector) override;
    uint16_t set_queue_vector(uint16_t vector) override;
    std::optional<uint64_t> queue_messages(uint16_t index) override;
    // Every MSI the double recorded since MSI-X was enabled, as this guest
    // saw them (polled: entries the double dropped before a look are
    // counted in msis_missed()).
    const std::vector<frontend::IoreqGuest::Msi>& msis_seen();
    uint64_t msis_missed() const { return msi_missed_; }
    // The message of vector v: what a PVHVM Linux writes (pirq 0x130 + v
    // in the destination id bits, ExtINT, vector 0); opaque to the device.
    static frontend::IoreqGuest::Msi message(uint16_t vector);
    uint16_t msix_control();
    void set_msix_control(uint16_t value);
    uint64_t table_entry(uint16_t vector) const { return bar_ + caps_.msix_table + 16ull * vector; }
    uint64_t pba() const { return bar_ + caps_.msix_pba; }
    void mask_vector(uint16_t vector, bool masked);
    // Writes vector `vector`'s message (address, then data).
    void program_vector(uint16_t vector, const frontend::IoreqGuest::Msi& m);

private:
    frontend::IoreqGuest& g_;
    uint8_t slot_;
    uint32_t sbdf_;
    bool msix_ = false;
    std::map<uint16_t, uint16_t> queue_vector_;  // what the device kept
    std::map<uint16_t, frontend::IoreqGuest::Msi> programmed_;  // by vector
    uint64_t msi_next_ = 0;  // the double's number of the next MSI to look at
    uint64_t msi_missed_ = 0;
    std::vector<frontend::IoreqGuest::Msi> msi_seen_;
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
