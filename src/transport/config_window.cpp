#include "transport/config_window.hpp"

#include <algorithm>
#include <cstring>

namespace xenvhost::transport {

namespace {
bool fits(uint64_t offset, unsigned size, uint64_t limit) {
    return size >= 1 && size <= 8 && offset <= limit && size <= limit - offset;
}
}  // namespace

uint64_t read_config(const VirtioDevice& device, uint64_t offset, unsigned size, uint64_t window, GuestLog& log) {
    const auto config = device.config();
    if (!fits(offset, size, std::min<uint64_t>(window, config.size()))) {
        log.warn("config read of {} bytes at {:#x} past the end ({} bytes)", size, offset, config.size());
        return all_ones(size);
    }
    uint64_t value = 0;
    std::memcpy(&value, config.data() + offset, size);  // little-endian host, as the guest
    return value;
}

void write_config(VirtioDevice& device, uint64_t offset, unsigned size, uint64_t data, uint64_t window,
                  GuestLog& log) {
    if (!fits(offset, size, std::min<uint64_t>(window, device.config().size()))) {
        log.warn("config write of {} bytes at {:#x} past the end ({} bytes): ignored", size, offset,
                 device.config().size());
        return;
    }
    uint8_t bytes[8];
    std::memcpy(bytes, &data, sizeof bytes);
    device.write_config(static_cast<uint32_t>(offset), std::span<const uint8_t>(bytes, size));
}

}  // namespace xenvhost::transport
