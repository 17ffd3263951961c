#pragma once
// Fixture of the device-model tests at the xenstore level: a guest's type,
// memory and vCPUs written where libxl writes them, the Xen double's state
// (tests/xendouble) for that guest so the real xenvhost-dm runs without a
// hypervisor, and what the tests look at in /proc (the daemon's children,
// a process's name and arguments).

#include "tests/xenstore/fixture.hpp"

#include "frontend/ioreq_guest.hpp"
#include "frontend/xen_double_files.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xenvhost::xstest {

inline constexpr unsigned kGuest = 5;
inline constexpr unsigned kGuestVcpus = 2;
inline constexpr uint64_t kGuestRamKib = 32 * 1024;  // static-max: RAM 0-0x9ffff, 0x100000-0x1ffffff
inline constexpr const char* kGuestRam = "0x0-0x9ffff,0xc0000-0x1ffffff";

// One guest domain under the double: the mapping files sized to its RAM and
// the ioreq state (dm-state, the page, the vCPUs' event channels).
class DoubleGuest {
public:
    static Result<std::unique_ptr<DoubleGuest>> create(const std::string& dir, unsigned domid, unsigned vcpus,
                                                       uint64_t ram_kib);
    // LD_PRELOAD and XENDOUBLE_* for xenvhostd; its worker and device model inherit them.
    std::vector<std::string> daemon_env() const;
    frontend::IoreqServerState server() const { return guest_->server(); }
    // The guest's vCPUs (to play its drivers) and its memory files.
    frontend::IoreqGuest& vcpus() { return *guest_; }
    const frontend::XenDoubleFiles& files() const { return *files_; }
    // Until `pred` holds for the double's record of the ioreq server.
    bool wait_server(const std::function<bool(const frontend::IoreqServerState&)>& pred, int timeout_ms) const;

private:
    std::optional<frontend::XenDoubleFiles> files_;
    std::unique_ptr<frontend::IoreqGuest> guest_;
};

class DeviceModelLevel : public XenstoreLevel {
protected:
    void TearDown() override;
    // /local/domain/D (introduced), /libxl/D/type unless nullopt,
    // memory/static-max and one cpu/N per vCPU.
    void guest(std::optional<std::string> type);
    // Also the double's state, and xenvhostd started on it.
    void hvm_guest_with_double(const std::vector<std::string>& daemon_args = {});
    // A virtio disk as libxl writes it on x86 (base and irq 0: the device model picks PCI).
    Tree x86_disk(unsigned devid, const std::string& image_path);
    // A script in the test's directory standing in for xenvhost-dm.
    std::string script(const std::string& name, const std::string& body);
    // The dm pid key of a device, -1 without it.
    pid_t model_pid(const std::string& be_dir);
    // The daemon's children whose name (comm) is `name`, or all of them.
    std::vector<pid_t> daemon_children(const std::string& name = "");

    std::unique_ptr<DoubleGuest> xd;
};

// Process inspection through /proc.
std::vector<pid_t> children_of(pid_t parent);
std::string process_name(pid_t pid);
std::vector<std::string> process_args(pid_t pid);
bool process_gone(pid_t pid);  // no such pid, not even a zombie
// Bounded wait on a condition that no xenstore watch reports (a process, a file).
bool wait_for(const std::function<bool()>& pred, int timeout_ms);
// The argument after `option` in `args` (every occurrence).
std::vector<std::string> option_values(const std::vector<std::string>& args, const std::string& option);

}  // namespace xenvhost::xstest
