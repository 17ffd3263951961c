#include "xen/ioreq_server.hpp"

#include "base/log.hpp"

#include <cerrno>
#include <cstring>

#define __XEN_TOOLS__ 1  // the device-model and ioreq definitions are for tools only
extern "C" {  // the headers have no C++ guards
#include <xendevicemodel.h>
#include <xenforeignmemory.h>
}
#include <xen/hvm/dm_op.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

namespace xenvhost::xen {
namespace {
constexpr size_t kPageSize = 4096;
// map_io_range's kind of range: 0 port I/O, 1 MMIO.
constexpr int kMmioRange = 1;

xendevicemodel_handle* h(DeviceModel& dm) { return static_cast<xendevicemodel_handle*>(dm.handle()); }
domid_t dom(const DeviceModel& dm) { return static_cast<domid_t>(dm.domid()); }
}  // namespace

Result<std::unique_ptr<IoreqServer>> IoreqServer::create(std::shared_ptr<DeviceModel> dm, ForeignMemory& fm) {
    ioservid_t id = 0;
    // No buffered ioreqs: every access is answered synchronously, so the
    // guest never sees a write land after a later read.
    if (xendevicemodel_create_ioreq_server(h(*dm), dom(*dm), HVM_IOREQSRV_BUFIOREQ_OFF, &id) < 0)
        return fail_errno("creating an ioreq server for domain {}", dm->domid());
    auto server = std::make_unique<IoreqServer>(dm, id);
    auto page = fm.map_resource(dm->domid(), XENMEM_resource_ioreq_server, id,
                                XENMEM_resource_ioreq_server_frame_ioreq(0), 1);
    if (!page) return pass(page.error());
    server->page_ = std::move(*page);
    return server;
}

Result<> IoreqServer::destroy_left_over(DeviceModel& dm, uint16_t id) {
    if (xendevicemodel_destroy_ioreq_server(h(dm), dom(dm), id) < 0)
        return fail_errno("destroying ioreq server {} of domain {}", id, dm.domid());
    return {};
}

IoreqServer::~IoreqServer() {
    page_.reset();  // before the server goes: its page is the server's
    if (xendevicemodel_destroy_ioreq_server(h(*dm_), dom(*dm_), id_) < 0)
        log::warn("destroying ioreq server {} of domain {}: {}", id_, dm_->domid(), std::strerror(errno));
}

ioreq& IoreqServer::slot(unsigned vcpu) const {
    return static_cast<shared_iopage_t*>(page_.data())->vcpu_ioreq[vcpu];
}

unsigned IoreqServer::max_slots() { return kPageSize / sizeof(ioreq_t); }

Result<> IoreqServer::map_mmio(uint64_t first, uint64_t last) {
    if (xendevicemodel_map_io_range_to_ioreq_server(h(*dm_), dom(*dm_), id_, kMmioRange, first, last) < 0)
        return fail_errno("routing MMIO {:#x}-{:#x} of domain {} to ioreq server {}", first, last, dm_->domid(), id_);
    return {};
}

Result<> IoreqServer::unmap_mmio(uint64_t first, uint64_t last) {
    if (xendevicemodel_unmap_io_range_from_ioreq_server(h(*dm_), dom(*dm_), id_, kMmioRange, first, last) < 0)
        return fail_errno("unrouting MMIO {:#x}-{:#x} of domain {}", first, last, dm_->domid());
    return {};
}

Result<> IoreqServer::map_pci(const PciSbdf& s) {
    if (xendevicemodel_map_pcidev_to_ioreq_server(h(*dm_), dom(*dm_), id_, s.segment, s.bus, s.device, s.function) < 0)
        return fail_errno("routing PCI {:04x}:{:02x}:{:02x}.{} of domain {} to ioreq server {}", s.segment, s.bus,
                          s.device, s.function, dm_->domid(), id_);
    return {};
}

Result<> IoreqServer::unmap_pci(const PciSbdf& s) {
    if (xendevicemodel_unmap_pcidev_from_ioreq_server(h(*dm_), dom(*dm_), id_, s.segment, s.bus, s.device,
                                                      s.function) < 0)
        return fail_errno("unrouting PCI {:04x}:{:02x}:{:02x}.{} of domain {}", s.segment, s.bus, s.device, s.function,
                          dm_->domid());
    return {};
}

Result<> IoreqServer::set_enabled(bool enabled) {
    if (xendevicemodel_set_ioreq_server_state(h(*dm_), dom(*dm_), id_, enabled ? 1 : 0) < 0)
        return fail_errno("{} ioreq server {} of domain {}", enabled ? "enabling" : "disabling", id_, dm_->domid());
    return {};
}

}  // namespace xenvhost::xen
