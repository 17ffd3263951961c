#pragma once
// One ioreq server of a guest: created, its ioreq page mapped (one slot per
// vCPU), MMIO ranges and PCI functions routed to it, enabled. Destroyed
// (which also drops every route) when this object goes, on every exit path
// the process survives; what a killed process leaves is destroyed by its
// supervisor through destroy_left_over().

#include "base/error.hpp"
#include "xen/device_model.hpp"
#include "xen/foreign_memory.hpp"

#include <cstdint>
#include <memory>

struct ioreq;  // <xen/hvm/ioreq.h>

namespace xenvhost::xen {

class IoreqServer {
public:
    static Result<std::unique_ptr<IoreqServer>> create(std::shared_ptr<DeviceModel> dm, ForeignMemory& fm);
    // Destroys server `id` of the guest, left by a device model that died.
    static Result<> destroy_left_over(DeviceModel& dm, uint16_t id);
    IoreqServer(const IoreqServer&) = delete;
    IoreqServer& operator=(const IoreqServer&) = delete;
    ~IoreqServer();

    uint16_t id() const { return id_; }
    // The slot of vCPU `vcpu` in the shared ioreq page.
    ioreq& slot(unsigned vcpu) const;
    // How many slots fit in the page: an upper bound on vCPUs.
    static unsigned max_slots();

    Result<> map_mmio(uint64_t first, uint64_t last);
    Result<> unmap_mmio(uint64_t first, uint64_t last);
    Result<> map_pci(const PciSbdf& sbdf);
    Result<> unmap_pci(const PciSbdf& sbdf);
    Result<> set_enabled(bool enabled);

    IoreqServer(std::shared_ptr<DeviceModel> dm, uint16_t id) : dm_(std::move(dm)), id_(id) {}

private:
    std::shared_ptr<DeviceModel> dm_;
    uint16_t id_;
    ResourceMapping page_;
};

}  // namespace xenvhost::xen
