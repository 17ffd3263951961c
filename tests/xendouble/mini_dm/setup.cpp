// xendouble-mini-dm's way up: the calls a device model makes, each checked,
// and the misuses Xen refuses, each checked for Xen's errno.

#include "xendouble/mini_dm/mini_dm_server.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace xenvhost::xendouble::mini_dm {

namespace {

bool expect(const char* name, int rc, int want_errno) {
    const bool ok = want_errno ? rc < 0 && errno == want_errno : rc >= 0;
    std::printf("check %s %s (rc %d, errno %s, wanted %s)\n", name, ok ? "ok" : "FAILED", rc,
                rc < 0 ? std::strerror(errno) : "-", want_errno ? std::strerror(want_errno) : "success");
    return ok;
}

}  // namespace

bool Server::setup(uint32_t domid, unsigned vcpus) {
    domid_ = static_cast<domid_t>(domid);
    dm_ = xendevicemodel_open(nullptr, 0);
    fm_ = xenforeignmemory_open(nullptr, 0);
    xce_ = xenevtchn_open(nullptr, 0);
    if (!dm_ || !fm_ || !xce_) return std::printf("open failed: %s\n", std::strerror(errno)), false;
    bool ok = expect("create", xendevicemodel_create_ioreq_server(dm_, domid_, 0, &id_), 0);
    ioservid_t other;
    ok &= expect("second-create", xendevicemodel_create_ioreq_server(dm_, domid_, 0, &other), ENOSPC);
    ok &= expect("state-unknown-id", xendevicemodel_set_ioreq_server_state(dm_, domid_, id_ + 1, 1), ENOENT);
    void* addr = nullptr;
    auto* grant = xenforeignmemory_map_resource(fm_, domid_, XENMEM_resource_grant_table, 0, 0, 1, &addr,
                                                PROT_READ, 0);
    ok &= expect("map-other-resource", grant ? 0 : -1, EOPNOTSUPP);
    addr = nullptr;
    page_res_ = xenforeignmemory_map_resource(fm_, domid_, XENMEM_resource_ioreq_server, id_,
                                              XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &addr,
                                              PROT_READ | PROT_WRITE, 0);
    ok &= expect("map-ioreq-page", page_res_ ? 0 : -1, 0);
    page_ = static_cast<shared_iopage_t*>(addr);
    ok &= expect("claim-mmio", xendevicemodel_map_io_range_to_ioreq_server(dm_, domid_, id_, 1, kMmioBase,
                                                                            kMmioBase + kMmioSize - 1), 0);
    ok &= expect("claim-overlap", xendevicemodel_map_io_range_to_ioreq_server(
                                      dm_, domid_, id_, 1, kMmioBase + kMmioSize / 2, kMmioBase + kMmioSize), EEXIST);
    ok &= expect("claim-pci", xendevicemodel_map_pcidev_to_ioreq_server(dm_, domid_, id_, 0, 0, kPciDevice, 0), 0);
    ok &= expect("claim-pci-again",
                 xendevicemodel_map_pcidev_to_ioreq_server(dm_, domid_, id_, 0, 0, kPciDevice, 0), EEXIST);
    ok &= expect("claim-pci-bad-device", xendevicemodel_map_pcidev_to_ioreq_server(dm_, domid_, id_, 0, 0, 32, 0),
                 EINVAL);
    ok &= expect("irq-out-of-range", xendevicemodel_set_irq_level(dm_, domid_, 16, 1), EINVAL);
    // Restricted, as a deprivileged device model runs: other domains are EPERM.
    ok &= expect("restrict-dm", xendevicemodel_restrict(dm_, domid_), 0);
    ok &= expect("restrict-evtchn", xenevtchn_restrict(xce_, domid_), 0);
    ok &= expect("restrict-fm", xenforeignmemory_restrict(fm_, domid_), 0);
    ok &= expect("other-domain-create", xendevicemodel_create_ioreq_server(dm_, domid_ + 1, 0, &other), EPERM);
    ok &= expect("other-domain-irq", xendevicemodel_set_irq_level(dm_, domid_ + 1, 1, 1), EPERM);
    ok &= expect("other-domain-bind", xenevtchn_bind_interdomain(xce_, domid_ + 1, 16), EPERM);
    ok &= expect("restrict-dm-other", xendevicemodel_restrict(dm_, domid_ + 1), EINVAL);
    // Xen writes the vCPUs' ports into the page when the server is enabled.
    ok &= expect("enable", xendevicemodel_set_ioreq_server_state(dm_, domid_, id_, 1), 0);
    for (unsigned v = 0; page_ && v < vcpus; ++v) {
        int port = xenevtchn_bind_interdomain(xce_, domid_, page_->vcpu_ioreq[v].vp_eport);
        ok &= expect("bind", port, 0);
        if (port >= 0) vcpu_of_port_[static_cast<evtchn_port_t>(port)] = v;
    }
    if (page_)
        ok &= expect("bind-twice", xenevtchn_bind_interdomain(xce_, domid_, page_->vcpu_ioreq[0].vp_eport), EINVAL);
    std::printf("%s\n", ok ? "checks passed" : "checks FAILED");
    return page_ != nullptr;
}

// Releases in the order a device model does, each checked.
bool Server::teardown() {
    bool ok = expect("unclaim-mmio", xendevicemodel_unmap_io_range_from_ioreq_server(
                                         dm_, domid_, id_, 1, kMmioBase, kMmioBase + kMmioSize - 1), 0);
    ok &= expect("unclaim-mmio-again", xendevicemodel_unmap_io_range_from_ioreq_server(
                                           dm_, domid_, id_, 1, kMmioBase, kMmioBase + kMmioSize - 1), ENOENT);
    ok &= expect("unclaim-pci", xendevicemodel_unmap_pcidev_from_ioreq_server(dm_, domid_, id_, 0, 0, kPciDevice, 0), 0);
    ok &= expect("disable", xendevicemodel_set_ioreq_server_state(dm_, domid_, id_, 0), 0);
    ok &= expect("destroy", xendevicemodel_destroy_ioreq_server(dm_, domid_, id_), 0);
    ok &= expect("destroy-again", xendevicemodel_destroy_ioreq_server(dm_, domid_, id_), ENOENT);
    ok &= expect("unmap-page", xenforeignmemory_unmap_resource(fm_, page_res_), 0);
    page_res_ = nullptr;
    page_ = nullptr;
    for (const auto& [port, vcpu] : vcpu_of_port_) ok &= expect("unbind", xenevtchn_unbind(xce_, port), 0);
    vcpu_of_port_.clear();
    std::printf("%s\n", ok ? "teardown passed" : "teardown FAILED");
    return ok;
}

Server::~Server() {
    if (page_res_) xenforeignmemory_unmap_resource(fm_, page_res_);
    if (xce_) xenevtchn_close(xce_);
    if (fm_) xenforeignmemory_close(fm_);
    if (dm_) xendevicemodel_close(dm_);
}

}  // namespace xenvhost::xendouble::mini_dm
