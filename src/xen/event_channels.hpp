#pragma once
// RAII over libxenevtchn: the device model's event channels to one guest
// (one per vCPU for ioreqs). Every bound port is unbound with the handle.

#include "base/error.hpp"

#include <cstdint>
#include <memory>
#include <optional>

namespace xenvhost::xen {

class EventChannels {
public:
    static Result<std::unique_ptr<EventChannels>> open();
    explicit EventChannels(void* handle) : handle_(handle) {}
    EventChannels(const EventChannels&) = delete;
    EventChannels& operator=(const EventChannels&) = delete;
    ~EventChannels();

    int fd() const;  // readable when a port is pending
    Result<> restrict_to(uint32_t domid);
    // Binds to `remote_port` of `domid`; returns the local port.
    Result<uint32_t> bind_interdomain(uint32_t domid, uint32_t remote_port);
    Result<> unbind(uint32_t local_port);
    Result<> notify(uint32_t local_port);
    // The next pending port (to be unmasked once handled), or none.
    Result<std::optional<uint32_t>> pending();
    Result<> unmask(uint32_t local_port);

private:
    void* handle_;  // xenevtchn_handle*
};

}  // namespace xenvhost::xen
