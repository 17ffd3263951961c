#pragma once
// transport::Platform on real Xen for one guest device: MMIO ranges routed
// to the device model's ioreq server (and its router), the guest's RAM
// layout for placement checks, and the device's interrupts through
// libxendevicemodel: its line (INTx of its PCI function or an IRQ) and the
// MSI-X messages of a PCI function.

#include "device_model/io_router.hpp"
#include "device_model/options.hpp"
#include "transport/platform.hpp"
#include "xen/device_model.hpp"
#include "xen/ioreq_server.hpp"

#include <map>
#include <optional>
#include <span>
#include <vector>

namespace xenvhost::device_model {

// Where the device's interrupt goes: INTA of a PCI function, or an IRQ line.
struct IrqLine {
    std::optional<xen::PciSbdf> pci;
    uint32_t irq = 0;
};

class XenPlatform : public transport::Platform {
public:
    XenPlatform(IoTarget& target, IoRouter& router, xen::IoreqServer& server, xen::DeviceModel& dm,
                std::span<const RamRange> ram, IrqLine line)
        : target_(target), router_(router), server_(server), dm_(dm), ram_(ram.begin(), ram.end()), line_(line) {}
    XenPlatform(const XenPlatform&) = delete;
    XenPlatform& operator=(const XenPlatform&) = delete;
    // Gives back what the transport still holds and drops the line.
    ~XenPlatform() override;

    Result<> claim_mmio(uint64_t first, uint64_t last) override;
    Result<> release_mmio(uint64_t first, uint64_t last) override;
    bool overlaps_ram(uint64_t first, uint64_t last) const override;
    void set_irq_level(bool asserted) override;
    void send_msi(uint64_t address, uint32_t data) override;
    // Vector 0 in the data (bits 7:0): a pirq, which Xen masks through its
    // event channel (qemu-xen's xen_is_pirq_msi).
    bool msi_masked_elsewhere(uint64_t, uint32_t data) const override { return (data & 0xff) == 0; }

    uint64_t level_changes() const { return level_changes_; }
    bool asserted() const { return level_; }
    uint64_t assertions() const { return (level_changes_ + 1) / 2; }  // the line starts low
    uint64_t msis() const { return msis_; }

private:
    IoTarget& target_;
    IoRouter& router_;
    xen::IoreqServer& server_;
    xen::DeviceModel& dm_;
    std::vector<RamRange> ram_;
    IrqLine line_;
    std::map<uint64_t, uint64_t> claimed_;  // first -> last
    bool level_ = false;
    uint64_t level_changes_ = 0;
    uint64_t msis_ = 0;
    uint64_t msi_failures_ = 0;
};

}  // namespace xenvhost::device_model
