#pragma once
// xenvhost-dm's command line: the guest, its RAM layout and vCPUs, and the
// devices to put on its bus, each joined to a vhost-user back-end's socket.
// xenvhostd builds it from xenstore; an operator can run it by hand.

#include "base/error.hpp"
#include "base/log.hpp"
#include "sandbox/identity.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace xenvhost::device_model {

enum class TransportKind { kPci, kMmio };
enum class RegionKind { kForeign, kGrant };

struct RamRange {
    uint64_t first = 0;
    uint64_t last = 0;  // inclusive
};

struct DmDevice {
    std::string name;         // the xenstore device id, for logs and the ready report
    std::string socket_path;  // the back-end's vhost-user socket
    uint32_t virtio_id = 2;   // virtio device type (2 = block)
    TransportKind transport = TransportKind::kPci;
    uint8_t pci_slot = 0;    // kPci: device number on bus 0
    uint64_t mmio_base = 0;  // kMmio: the 0x200-byte register window
    uint32_t irq = 0;        // kMmio: the GSI (x86) or SPI (Arm)
    RegionKind regions = RegionKind::kForeign;
};

struct DmOptions {
    bool help = false;
    bool version = false;
    std::string help_text;
    uint32_t domid = 0;
    unsigned vcpus = 1;
    std::vector<RamRange> ram;
    std::vector<DmDevice> devices;
    int ready_fd = -1;  // gets the ready report, then is closed
    std::string privcmd_path = "/dev/xen/privcmd";
    std::string gntdev_path = "/dev/xen/gntdev";
    log::Level log_level = log::Level::kInfo;
    // --sandbox-user UID:GID and --sandbox-root DIR: the drop made once the
    // devices are on the guest's bus (sandbox/sandbox.hpp); xenvhostd gives both.
    std::optional<sandbox::Identity> sandbox_user;
    std::string sandbox_root;
};

// What the sandboxed device model must still reach by path: the directory of
// each device's socket, to reconnect after its back-end restarts. Sorted,
// each once.
std::vector<std::string> socket_directories(const std::vector<DmDevice>& devices);

Result<DmOptions> parse_dm_options(int argc, char** argv);
// "name=N,socket=PATH[,virtio-id=2][,transport=pci|mmio][,slot=S][,base=B,irq=I][,regions=foreign|grant]"
Result<DmDevice> parse_dm_device(std::string_view text);
// "0x0-0x9ffff,0xc0000-0xfffffff": inclusive ranges, sorted, not overlapping.
Result<std::vector<RamRange>> parse_ram(std::string_view text);

}  // namespace xenvhost::device_model
