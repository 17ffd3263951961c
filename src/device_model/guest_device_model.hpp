#pragma once
// The device model of one guest: its ioreq server, one event channel per
// vCPU, the router and the guest's devices, on the program's event loop.
// Teardown (destruction, on every exit path the process survives) takes the
// devices off the bus and destroys the ioreq server.

#include "device_model/guest_device.hpp"
#include "device_model/io_router.hpp"
#include "device_model/ioreq_handler.hpp"
#include "device_model/options.hpp"
#include "event/event_loop.hpp"
#include "xen/device_model.hpp"
#include "xen/event_channels.hpp"
#include "xen/foreign_memory.hpp"
#include "xen/ioreq_server.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace xenvhost::device_model {

class GuestDeviceModel {
public:
    static Result<std::unique_ptr<GuestDeviceModel>> create(event::EventLoop& loop, const DmOptions& options);
    GuestDeviceModel(const GuestDeviceModel&) = delete;
    GuestDeviceModel& operator=(const GuestDeviceModel&) = delete;
    ~GuestDeviceModel();

    // For xenvhostd: the server id (to destroy it should this process be
    // killed), then a line per device with where the guest finds it.
    std::string ready_report() const;
    std::string counters() const;

    GuestDeviceModel(event::EventLoop& loop, const DmOptions& options) : loop_(loop), options_(options) {}

private:
    Result<> open_xen();
    Result<> bind_vcpus();
    Result<> add_devices();
    void on_event_channel();
    void on_invalidate();

    event::EventLoop& loop_;
    const DmOptions& options_;
    std::shared_ptr<xen::DeviceModel> dm_;
    std::shared_ptr<xen::ForeignMemory> fm_;
    std::unique_ptr<xen::IoreqServer> server_;
    std::unique_ptr<xen::EventChannels> channels_;
    std::shared_ptr<const vhost_frontend::RegionDevices> region_devices_;
    std::map<uint32_t, unsigned> vcpu_of_port_;
    std::vector<uint32_t> port_of_vcpu_;
    IoRouter router_;
    IoreqHandler handler_{router_, [this] { on_invalidate(); }};
    std::vector<std::unique_ptr<GuestDevice>> devices_;
    bool watching_ = false;
};

}  // namespace xenvhost::device_model
