#include "device_model/guest_device.hpp"

#include "base/log.hpp"
#include "transport/virtio_mmio.hpp"
#include "transport/virtio_pci.hpp"

namespace xenvhost::device_model {
namespace {

// libxl's default max_grant_frames (64) of 512 version-1 entries each: the
// grant references a guest can hand out, each naming one 4 KiB page.
constexpr uint64_t kGrantSpaceBytes = uint64_t{64} * 512 * 4096;

vhost_frontend::FrontendConfig frontend_config(const GuestContext& ctx, const DmDevice& d) {
    const DmOptions& o = ctx.options;
    vhost_frontend::FrontendConfig c;
    c.socket_path = d.socket_path;
    c.domid = o.domid;
    c.device_id = d.virtio_id;
    for (const auto& r : o.ram) c.ram.push_back({r.first, r.last - r.first + 1});
    c.region_kind =
        d.regions == RegionKind::kGrant ? vhost_frontend::RegionKind::kGrant : vhost_frontend::RegionKind::kForeign;
    if (d.regions == RegionKind::kGrant) c.grant_space_size = kGrantSpaceBytes;
    c.region_devices = ctx.region_devices;
    return c;
}

}  // namespace

Result<std::unique_ptr<GuestDevice>> GuestDevice::create(const GuestContext& ctx, const DmDevice& spec) {
    auto device = std::make_unique<GuestDevice>(spec);
    if (auto ok = device->attach(ctx); !ok) return fail_as(ok.error().kind, "device {}: {}", spec.name, ok.error().message);
    return device;
}

Result<> GuestDevice::attach(const GuestContext& ctx) {
    auto fe = vhost_frontend::VhostUserFrontend::create(ctx.loop, frontend_config(ctx, spec_));
    if (!fe) return pass(fe.error());
    frontend_ = std::move(*fe);
    IrqLine line;
    if (spec_.transport == TransportKind::kPci) {
        pci_ = xen::PciSbdf{0, 0, spec_.pci_slot, 0};
        line.pci = pci_;
    } else {
        line.irq = spec_.irq;
    }
    platform_ = std::make_unique<XenPlatform>(*this, ctx.router, ctx.server, ctx.dm, ctx.options.ram, line);
    if (pci_) {
        if (auto ok = ctx.router.add_pci(*pci_, *this); !ok) return pass(ok.error());
        auto pci = transport::VirtioPci::create(*platform_, *frontend_,
                                                transport::PciAddress{pci_->segment, pci_->bus, pci_->device, 0});
        if (!pci) return pass(pci.error());
        transport_ = std::move(*pci);
        // Routed last: Xen sends the guest's config cycles here only once
        // there is a function to answer them.
        if (auto ok = ctx.server.map_pci(*pci_); !ok) return pass(ok.error());
        server_ = &ctx.server;
    } else {
        auto mmio = transport::VirtioMmio::create(*platform_, *frontend_, spec_.mmio_base, spec_.irq);
        if (!mmio) return pass(mmio.error());
        transport_ = std::move(*mmio);
    }
    frontend_->set_interrupt_sink(transport_.get());
    return {};
}

GuestDevice::~GuestDevice() {
    if (server_ && pci_) (void)server_->unmap_pci(*pci_);
    if (frontend_) frontend_->set_interrupt_sink(nullptr);
    transport_.reset();
    platform_.reset();
    frontend_.reset();
}

uint64_t GuestDevice::access(const transport::IoAccess& access) {
    if (!transport_) return ~uint64_t{0};
    ++accesses_;
    return transport_->access(access);
}

std::string GuestDevice::counters() const {
    const vhost_frontend::FrontendCounters none;
    const auto& f = frontend_ ? frontend_->counters() : none;
    const uint64_t msis = platform_ ? platform_->msis() : 0;
    return fmt::format(
        "device {}: {} ioreqs, {} kicks, {} calls, {} interrupts, {} reconnects (line {}, {} msis, {} remaps, back-end {})",
        spec_.name, accesses_, f.kicks, f.calls, (platform_ ? platform_->assertions() : 0) + msis, f.reconnects,
        platform_ && platform_->asserted() ? "high" : "low", msis, f.remaps,
        !frontend_ ? "none" : frontend_->broken() ? "broken" : frontend_->connected() ? "connected" : "away");
}

std::string GuestDevice::describe() const {
    if (transport_) return transport_->describe();
    return spec_.transport == TransportKind::kPci ? fmt::format("pci 0000:00:{:02x}.0", spec_.pci_slot)
                                                  : fmt::format("mmio {:#x} irq {}", spec_.mmio_base, spec_.irq);
}

}  // namespace xenvhost::device_model
