#pragma once
// Fixture of the external back-end tests: a vhost-user back-end the test runs
// itself, as an operator would (the real xenvhost-worker started by hand on a
// socket outside xenvhostd's run directory), and xenvhostd configured with
// `--external-backend` to hand a type of generic virtio device to it.

#include "tests/xenstore/model_fixture.hpp"

#include <memory>
#include <string>
#include <vector>

namespace xenvhost::xstest {

class ExternalBackendLevel : public DeviceModelLevel {
protected:
    void SetUp() override;
    void TearDown() override;

    // "--external-backend" "TYPE DIR/dom%d.sock".
    std::vector<std::string> external_args(const std::string& type) const;
    // The socket that pattern gives a guest.
    std::string external_socket(unsigned domid) const;
    // Starts the back-end on `socket` serving `image` for guest kGuest, with
    // `env` added (the Xen double's, for an HVM guest's device model).
    void start_backend(const std::string& socket, const std::string& image, const std::vector<std::string>& env = {});
    // A generic virtio device as libxl writes it on x86 (base and irq 0:
    // the device model picks PCI), no grants, no params.
    Tree x86_virtio(unsigned devid, const std::string& type);
    // The back-end still runs, its socket is there, it got no signal, and it
    // serves a front-end (verified I/O on `image`).
    void expect_backend_untouched(pid_t pid, const std::string& socket, const std::string& image, uint64_t sector);

    std::string ext_dir;
    std::unique_ptr<Process> backend;
};

}  // namespace xenvhost::xstest
