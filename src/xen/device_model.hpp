#pragma once
// RAII over libxendevicemodel: the calls a device model makes for one guest
// (ioreq servers, interrupt lines, MSIs), restricted to that guest.

#include "base/error.hpp"
#include "xen/privilege.hpp"

#include <cstdint>
#include <memory>

namespace xenvhost::xen {

struct PciSbdf {
    uint16_t segment = 0;
    uint8_t bus = 0;
    uint8_t device = 0;  // slot, 0..31
    uint8_t function = 0;
};

class DeviceModel {
public:
    static Result<std::shared_ptr<DeviceModel>> open(uint32_t domid);
    // Whether this domain's kernel lets privcmd reach the guest, then Xen's
    // answer to a DMOP that changes nothing (the guest's vCPU count);
    // xen/privilege.hpp says what the answers mean.
    static DmProbe probe(uint32_t domid);
    explicit DeviceModel(void* handle, uint32_t domid) : handle_(handle), domid_(domid) {}
    DeviceModel(const DeviceModel&) = delete;
    DeviceModel& operator=(const DeviceModel&) = delete;
    ~DeviceModel();

    uint32_t domid() const { return domid_; }
    // Later calls for any other domain fail in the kernel.
    Result<> restrict_to_guest();

    // INTx of a PCI function (pin 0 = INTA), or an IRQ line: an ISA IRQ
    // (0..15) on x86, an SPI on Arm.
    Result<> set_pci_intx_level(const PciSbdf& sbdf, uint8_t pin, bool asserted);
    Result<> set_irq_level(uint32_t irq, bool asserted);
    static constexpr uint32_t kIsaIrqs = 16;
    // An MSI as the guest programmed it (xendevicemodel_inject_msi, as
    // QEMU's xen_hvm_inject_msi): Xen decodes it, a pirq for a PVHVM guest.
    Result<> inject_msi(uint64_t address, uint32_t data);

    void* handle() const { return handle_; }  // xendevicemodel_handle*, for IoreqServer

private:
    void* handle_;
    uint32_t domid_;
};

}  // namespace xenvhost::xen
