#pragma once
// Back-end keys the operator gives for virtio disks when the toolstack
// cannot write them, named in the daemon's configuration:
//
//   virtio-disk-keys = 51792 grant_usage=1,base=0xfe000000,irq=7
//
// libxl 4.17 writes no grant_usage for disks (4.19 does), and on x86 it
// writes base=0 and irq=0 (only libxl_arm.c allocates a virtio-mmio window).
// Every guest's virtio disk DEVID is then served as if its back-end directory
// held these keys: with grant regions (a guest whose kernel forces grants,
// CONFIG_XEN_VIRTIO_FORCE_GRANT), and over virtio-mmio at BASE with IRQ
// (an x86 guest is told where on its command line,
// virtio_mmio.device=512@BASE:IRQ). What libxl did write wins.

#include "base/error.hpp"
#include "daemon/device_entry.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xenvhost::daemon {

inline constexpr const char* kDiskKeysKey = "virtio-disk-keys";

struct DiskKeys {
    unsigned devid = 0;
    std::optional<bool> grant_usage;
    uint64_t base = 0;  // with irq: both or neither
    uint64_t irq = 0;
};
using DiskKeysList = std::vector<DiskKeys>;

// One configured value: "DEVID KEY=VALUE[,KEY=VALUE...]", keys grant_usage
// (0 or 1), base and irq (numbers, 0x for hexadecimal; both or neither).
Result<DiskKeys> parse_disk_keys(std::string_view text);
// Every configured value; a devid given twice is refused.
Result<DiskKeysList> parse_disk_keys_list(const std::vector<std::string>& values);

// Fills in what the toolstack left out for a virtio disk (kind
// virtio_disk) whose devid has keys: grant_usage when absent, base and irq
// when both are 0.
void apply_disk_keys(DeviceEntry& entry, const DiskKeysList& list);

}  // namespace xenvhost::daemon
