#include "device_model/guest_device_model.hpp"

#include "base/log.hpp"

#include <sys/epoll.h>

#include <xen/hvm/ioreq.h>

namespace xenvhost::device_model {

Result<std::unique_ptr<GuestDeviceModel>> GuestDeviceModel::create(event::EventLoop& loop, const DmOptions& options) {
    auto model = std::make_unique<GuestDeviceModel>(loop, options);
    if (auto ok = model->open_xen(); !ok) return pass(ok.error());
    // Xen writes each vCPU's event channel into the ioreq page only when the
    // server is enabled. Nothing is routed to it yet; the guest is paused.
    if (auto ok = model->server_->set_enabled(true); !ok) return pass(ok.error());
    if (auto ok = model->bind_vcpus(); !ok) return pass(ok.error());
    if (auto ok = model->add_devices(); !ok) return pass(ok.error());
    if (auto ok = loop.add(model->channels_->fd(), EPOLLIN, [m = model.get()](uint32_t) { m->on_event_channel(); }); !ok)
        return pass(ok.error());
    model->watching_ = true;
    return model;
}

// Every handle is restricted to the guest as it is opened, each by its own
// call: xentoolcore_restrict_all would also cover handles Xen cannot
// restrict (it dup2()s /dev/null over those), and the privcmd and gntdev
// fds sent to back-ends are not library handles (frontend/region_devices.hpp
// restricts the privcmd one; gntdev has no restriction).
Result<> GuestDeviceModel::open_xen() {
    const uint32_t domid = options_.domid;
    region_devices_ = vhost_frontend::RegionDevices::open(options_.privcmd_path, options_.gntdev_path, domid);
    auto dm = xen::DeviceModel::open(domid);
    if (!dm) return pass(dm.error());
    dm_ = std::move(*dm);
    if (auto ok = dm_->restrict_to_guest(); !ok) return pass(ok.error());
    auto fm = xen::ForeignMemory::open();
    if (!fm) return pass(fm.error());
    fm_ = std::move(*fm);
    if (auto ok = fm_->restrict_to(domid); !ok) return pass(ok.error());
    auto server = xen::IoreqServer::create(dm_, *fm_);
    if (!server) return pass(server.error());
    server_ = std::move(*server);
    auto channels = xen::EventChannels::open();
    if (!channels) return pass(channels.error());
    channels_ = std::move(*channels);
    return channels_->restrict_to(domid);
}

Result<> GuestDeviceModel::bind_vcpus() {
    if (options_.vcpus > xen::IoreqServer::max_slots())
        return fail("{} vCPUs do not fit in one ioreq page ({} slots)", options_.vcpus, xen::IoreqServer::max_slots());
    for (unsigned v = 0; v < options_.vcpus; ++v) {
        const uint32_t remote = server_->slot(v).vp_eport;
        auto local = channels_->bind_interdomain(options_.domid, remote);
        if (!local) return fail("vCPU {}: {}", v, local.error().message);
        vcpu_of_port_[*local] = v;
        port_of_vcpu_.push_back(*local);
    }
    return {};
}

Result<> GuestDeviceModel::add_devices() {
    const GuestContext ctx{loop_, options_, router_, *server_, *dm_, region_devices_};
    for (const auto& spec : options_.devices) {
        auto device = GuestDevice::create(ctx, spec);
        if (!device) return pass(device.error());
        log::info("device {}: {} for domain {}", spec.name, (*device)->describe(), options_.domid);
        devices_.push_back(std::move(*device));
    }
    return {};
}

void GuestDeviceModel::on_event_channel() {
    for (;;) {
        auto port = channels_->pending();
        if (!port) {
            log::error("{}", port.error().message);
            return;
        }
        if (!*port) return;
        auto it = vcpu_of_port_.find(**port);
        if (it != vcpu_of_port_.end() && handler_.handle(server_->slot(it->second))) {
            if (auto ok = channels_->notify(**port); !ok) log::error("{}", ok.error().message);
        }
        if (auto ok = channels_->unmask(**port); !ok) log::error("{}", ok.error().message);
    }
}

void GuestDeviceModel::on_invalidate() {
    log::info("domain {} gave memory back to Xen: its back-ends map its memory again", options_.domid);
    for (const auto& d : devices_) d->remap_memory();
}

GuestDeviceModel::~GuestDeviceModel() {
    if (watching_) loop_.remove(channels_->fd());
    if (server_) (void)server_->set_enabled(false);
    devices_.clear();  // each releases its ranges and PCI function
    server_.reset();   // destroys the ioreq server
    channels_.reset();
}

std::string GuestDeviceModel::ready_report() const {
    std::string report = fmt::format("ioreq-server {}\n", server_->id());
    for (const auto& d : devices_) report += fmt::format("device {} {}\n", d->name(), d->describe());
    return report + "ready\n";
}

std::string GuestDeviceModel::counters() const {
    const auto& c = handler_.counters();
    std::string line = fmt::format("ioreqs: {} mmio, {} pci-config, {} invalidate, {} other, {} refused, {} unclaimed", c.mmio,
                       c.pci_config, c.invalidate, c.other, c.refused, router_.unclaimed_accesses());
    // A slot left READY while the loop idles would be a request never answered.
    for (unsigned v = 0; v < port_of_vcpu_.size(); ++v)
        line += fmt::format("; vCPU {} port {} slot state {}", v, port_of_vcpu_[v],
                            unsigned{static_cast<const volatile ioreq&>(server_->slot(v)).state});
    for (const auto& d : devices_) line += "; " + d->counters();
    return line;
}

}  // namespace xenvhost::device_model
