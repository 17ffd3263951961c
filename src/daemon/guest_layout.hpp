#pragma once
// What a device model must know of an HVM guest, from what libxl wrote in
// xenstore: its RAM layout (for the memory regions the back-end maps and the
// BAR placement checks) and its vCPUs (one ioreq slot and event channel each).

#include "base/error.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace xenvhost::daemon {

// hvmloader's x86 layout for `kib` of RAM: low RAM below the legacy VGA
// window, then from the ROM area (RAM, where SeaBIOS keeps its own virtio
// rings) up to the PCI MMIO hole (which starts at 0xf0000000 unless
// the guest's config enlarges it), and what does not fit above 4 GiB.
// As xenvhost-dm's --ram text.
std::string hvm_ram_ranges(uint64_t kib);

}  // namespace xenvhost::daemon
