#pragma once
// One virtio device of the guest as the device model holds it: the
// vhost-user front-end towards its back-end, joined to the transport the
// guest's driver sees (virtio-pci on a slot of bus 0, or virtio-mmio at a
// base), on the platform that routes its accesses and interrupts.

#include "device_model/io_router.hpp"
#include "device_model/options.hpp"
#include "device_model/xen_platform.hpp"
#include "event/event_loop.hpp"
#include "frontend/region_devices.hpp"
#include "frontend/vhost_user_frontend.hpp"
#include "transport/transport.hpp"

#include <memory>
#include <string>

namespace xenvhost::device_model {

// What every device of one guest shares.
struct GuestContext {
    event::EventLoop& loop;
    const DmOptions& options;
    IoRouter& router;
    xen::IoreqServer& server;
    xen::DeviceModel& dm;
    std::shared_ptr<const vhost_frontend::RegionDevices> region_devices;  // opened before any drop
};

class GuestDevice : public IoTarget {
public:
    // Connects to the back-end, then puts the device on the guest's bus.
    static Result<std::unique_ptr<GuestDevice>> create(const GuestContext& ctx, const DmDevice& spec);
    ~GuestDevice() override;

    uint64_t access(const transport::IoAccess& access) override;
    std::string describe() const override;
    const std::string& name() const { return spec_.name; }
    // One line: ioreqs the device answered, kicks, calls, interrupts (line
    // assertions and MSIs; the MSIs alone in the parenthesis), back-end
    // reconnects.
    std::string counters() const;
    void remap_memory() {
        if (frontend_) frontend_->remap_memory();
    }

    explicit GuestDevice(const DmDevice& spec) : spec_(spec) {}

private:
    Result<> attach(const GuestContext& ctx);

    DmDevice spec_;
    // Destroyed in reverse: the transport (which releases its ranges) before
    // the platform, the platform before the front-end it interrupts for.
    std::unique_ptr<vhost_frontend::VhostUserFrontend> frontend_;
    std::unique_ptr<XenPlatform> platform_;
    std::unique_ptr<transport::Transport> transport_;
    xen::IoreqServer* server_ = nullptr;
    std::optional<xen::PciSbdf> pci_;
    uint64_t accesses_ = 0;
};

}  // namespace xenvhost::device_model
