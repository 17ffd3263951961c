#pragma once
// xendouble-mini-dm's state: the three library handles a device model
// holds, the mapped ioreq page, and the registers of its one device.

#include "xendouble/mini_dm/mini_dm.hpp"

#include <sys/mman.h>

#define __XEN_TOOLS__ 1
extern "C" {
#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>
}

#include <array>
#include <cstdint>
#include <map>

namespace xenvhost::xendouble::mini_dm {

class Server {
public:
    Server() = default;
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Opens, creates the server, maps its page, claims, binds, enables.
    bool setup(uint32_t domid, unsigned vcpus);
    // Serves ioreqs until `stop_fd` is readable; false on a library error.
    bool serve(int stop_fd);
    bool teardown();

private:
    void handle(unsigned vcpu, ioreq_t& req);
    uint64_t mmio_read(unsigned vcpu, uint64_t offset);
    void mmio_write(uint64_t offset, uint64_t value);

    domid_t domid_ = 0;
    ioservid_t id_ = 0;
    xendevicemodel_handle* dm_ = nullptr;
    xenforeignmemory_handle* fm_ = nullptr;
    xenevtchn_handle* xce_ = nullptr;
    xenforeignmemory_resource_handle* page_res_ = nullptr;
    shared_iopage_t* page_ = nullptr;
    std::map<evtchn_port_t, unsigned> vcpu_of_port_;
    uint64_t scratch_ = 0, invalidates_ = 0, writes_ = 0;
    std::array<uint8_t, 256> config_{};
};

}  // namespace xenvhost::xendouble::mini_dm
