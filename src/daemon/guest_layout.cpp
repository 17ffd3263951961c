#include "daemon/guest_layout.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace xenvhost::daemon {
namespace {
// Only the legacy VGA window is not RAM. 0xc0000-0xfffff is RAM that holds
// the option ROMs and SeaBIOS, which puts its virtio rings there (seen on
// real Xen: SeaBIOS's first request at 0xe9418).
constexpr uint64_t kLegacyHoleStart = 0xa0000;
constexpr uint64_t kLowRamRestart = 0xc0000;
constexpr uint64_t kMmioHoleStart = 0xf0000000;
constexpr uint64_t k4GiB = 0x100000000;
}  // namespace

std::string hvm_ram_ranges(uint64_t kib) {
    const uint64_t bytes = std::max<uint64_t>(kib * 1024, 2 * kLowRamRestart);
    const uint64_t low_end = std::min(bytes, kMmioHoleStart);
    std::string text = fmt::format("0x0-{:#x},{:#x}-{:#x}", kLegacyHoleStart - 1, kLowRamRestart, low_end - 1);
    if (bytes > low_end) text += fmt::format(",{:#x}-{:#x}", k4GiB, k4GiB + (bytes - low_end) - 1);
    return text;
}

}  // namespace xenvhost::daemon
