#include "xen/device_model.hpp"

#include <cerrno>

#define __XEN_TOOLS__ 1  // the device-model and ioreq definitions are for tools only
extern "C" {  // the headers have no C++ guards
#include <xendevicemodel.h>
}

namespace xenvhost::xen {
namespace {
xendevicemodel_handle* h(void* p) { return static_cast<xendevicemodel_handle*>(p); }
}  // namespace

Result<std::shared_ptr<DeviceModel>> DeviceModel::open(uint32_t domid) {
    xendevicemodel_handle* handle = xendevicemodel_open(nullptr, 0);
    if (!handle) return fail_errno("xendevicemodel_open (/dev/xen/privcmd)");
    return std::make_shared<DeviceModel>(handle, domid);
}

DmProbe DeviceModel::probe(uint32_t domid) {
    DmProbe p;
    xendevicemodel_handle* handle = xendevicemodel_open(nullptr, 0);
    if (!handle) {
        p.open_err = errno ? errno : ENODEV;
        return p;
    }
    if (xendevicemodel_restrict(handle, static_cast<domid_t>(domid)) < 0) {
        p.restrict_err = errno ? errno : EIO;
    } else {
        unsigned vcpus = 0;
        if (xendevicemodel_nr_vcpus(handle, static_cast<domid_t>(domid), &vcpus) < 0) p.dmop_err = errno ? errno : EIO;
    }
    xendevicemodel_close(handle);
    return p;
}

DeviceModel::~DeviceModel() { xendevicemodel_close(h(handle_)); }

Result<> DeviceModel::restrict_to_guest() {
    if (xendevicemodel_restrict(h(handle_), static_cast<domid_t>(domid_)) < 0)
        return fail_errno("restricting the device-model handle to domain {}", domid_);
    return {};
}

Result<> DeviceModel::set_pci_intx_level(const PciSbdf& s, uint8_t pin, bool asserted) {
    if (xendevicemodel_set_pci_intx_level(h(handle_), static_cast<domid_t>(domid_), s.segment, s.bus, s.device, pin,
                                          asserted ? 1 : 0) < 0)
        return fail_errno("INTx {} of {:04x}:{:02x}:{:02x}.{} of domain {} to {}", static_cast<char>('A' + pin),
                          s.segment, s.bus, s.device, s.function, domid_, asserted ? 1 : 0);
    return {};
}

Result<> DeviceModel::set_irq_level(uint32_t irq, bool asserted) {
    if (xendevicemodel_set_irq_level(h(handle_), static_cast<domid_t>(domid_), irq, asserted ? 1 : 0) < 0)
        return fail_errno("IRQ {} of domain {} to {}", irq, domid_, asserted ? 1 : 0);
    return {};
}

Result<> DeviceModel::inject_msi(uint64_t address, uint32_t data) {
    if (xendevicemodel_inject_msi(h(handle_), static_cast<domid_t>(domid_), address, data) < 0)
        return fail_errno("MSI {:#x}/{:#x} to domain {}", address, data, domid_);
    return {};
}

}  // namespace xenvhost::xen
