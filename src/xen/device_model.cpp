#include "xen/device_model.hpp"

#include "xen/foreign_memory.hpp"

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
    // Whether this domain's kernel lets privcmd reach the guest at all: a
    // fresh privcmd handle restricted by the kernel to another domain (a
    // domU's, since the fix for XSA-482) refuses a restriction to the guest
    // with EINVAL. libxendevicemodel would not say: it falls back to
    // libxencall when privcmd's DM_OP ioctl fails, and its restrict then
    // answers EOPNOTSUPP.
    auto foreign = ForeignMemory::open();
    if (!foreign) {
        p.open_err = foreign.error().err ? foreign.error().err : ENODEV;
        return p;
    }
    if (auto r = (*foreign)->restrict_to(domid); !r) {
        p.restrict_err = r.error().err ? r.error().err : EIO;
        return p;
    }
    xendevicemodel_handle* handle = xendevicemodel_open(nullptr, 0);
    if (!handle) {
        p.open_err = errno ? errno : ENODEV;
        return p;
    }
    // Best effort: the probe changes nothing, restricted or not.
    (void)xendevicemodel_restrict(handle, static_cast<domid_t>(domid));
    unsigned vcpus = 0;
    if (xendevicemodel_nr_vcpus(handle, static_cast<domid_t>(domid), &vcpus) < 0) p.dmop_err = errno ? errno : EIO;
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
#if defined(__x86_64__) || defined(__i386__)
    // x86 Xen has no XEN_DMOP_set_irq_level (Arm's, for its GIC's SPIs): a
    // line that is no PCI function's is an ISA IRQ, which Xen asserts on the
    // guest's IOAPIC pin (and its PIC) as qemu-xen's ISA devices do.
    if (irq >= kIsaIrqs) return fail("IRQ {} of domain {} is no ISA IRQ (0..15)", irq, domid_);
    if (xendevicemodel_set_isa_irq_level(h(handle_), static_cast<domid_t>(domid_), static_cast<uint8_t>(irq),
                                         asserted ? 1 : 0) < 0)
        return fail_errno("ISA IRQ {} of domain {} to {}", irq, domid_, asserted ? 1 : 0);
#else
    if (xendevicemodel_set_irq_level(h(handle_), static_cast<domid_t>(domid_), irq, asserted ? 1 : 0) < 0)
        return fail_errno("IRQ {} of domain {} to {}", irq, domid_, asserted ? 1 : 0);
#endif
    return {};
}

Result<> DeviceModel::inject_msi(uint64_t address, uint32_t data) {
    if (xendevicemodel_inject_msi(h(handle_), static_cast<domid_t>(domid_), address, data) < 0)
        return fail_errno("MSI {:#x}/{:#x} to domain {}", address, data, domid_);
    return {};
}

}  // namespace xenvhost::xen
