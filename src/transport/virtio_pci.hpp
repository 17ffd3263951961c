#pragma once
// virtio-pci, modern only (virtio 1.2 4.1): a type-0 function with the
// virtio vendor capabilities and MSI-X, one 64-bit memory BAR holding the
// common config, ISR, device config and notify regions and the MSI-X table
// and PBA. Interrupts go as MSI-X messages to the vectors the driver mapped
// while MSI-X is enabled (no ISR read needed: Linux uses a vector per
// queue), else through INTx (pin A) and the read-to-clear ISR. No legacy
// I/O BAR.

#include "base/error.hpp"
#include "transport/guest_log.hpp"
#include "transport/interrupt_state.hpp"
#include "transport/msix_table.hpp"
#include "transport/pci_bar.hpp"
#include "transport/pci_common_cfg.hpp"
#include "transport/pci_header.hpp"
#include "transport/platform.hpp"
#include "transport/transport.hpp"
#include "transport/virtio_status.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace xenvhost::transport {

struct PciAddress {
    uint16_t segment = 0;
    uint8_t bus = 0;
    uint8_t device = 0;    // 0..31
    uint8_t function = 0;  // 0..7
};

class VirtioPci final : public Transport {
    struct Key {  // only create() constructs one
        explicit Key() = default;
    };

public:
    // The BAR is unplaced until the guest (firmware or OS) programs it.
    static Result<std::unique_ptr<VirtioPci>> create(Platform& platform, VirtioDevice& device, PciAddress address);
    VirtioPci(Key, Platform& platform, VirtioDevice& device, PciAddress address);
    VirtioPci(const VirtioPci&) = delete;
    VirtioPci& operator=(const VirtioPci&) = delete;

    // kPciConfig: an offset in config space; kMmio: a guest address in the BAR.
    uint64_t access(const IoAccess& access) override;
    bool broken() const override { return status_.broken(); }
    std::string describe() const override;

    void queue_interrupt(uint16_t index) override;
    void config_interrupt() override;
    void device_broken() override;

private:
    uint64_t config_access(const IoAccess& access);
    uint32_t read_config_dword(uint32_t reg);
    void write_config_dword(uint32_t reg, uint32_t value, uint8_t byte_mask);
    void apply_command();
    uint32_t read_msix_dword();
    void write_msix_dword(uint32_t value, uint8_t byte_mask);
    void cfg_window(bool write);
    uint64_t bar_access(uint64_t offset, unsigned size, bool write, uint64_t data);
    uint64_t isr_access(uint64_t offset, unsigned size, bool write);
    void notify_access(uint64_t offset, unsigned size, bool write);

    VirtioDevice& device_;
    const PciAddress address_;
    GuestLog log_;
    InterruptState interrupts_;
    VirtioStatus status_;
    pci::PciHeader header_;
    pci::PciBar bar_;
    pci::MsixTable msix_;
    pci::PciCommonConfig common_;
};

}  // namespace xenvhost::transport
