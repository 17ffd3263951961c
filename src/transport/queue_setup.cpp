#include "transport/queue_setup.hpp"

#include <bit>

namespace xenvhost::transport {

void set_low_half(uint64_t& address, uint32_t value) { address = (address & ~uint64_t{0xffffffff}) | value; }

void set_high_half(uint64_t& address, uint32_t value) {
    address = (address & uint64_t{0xffffffff}) | (uint64_t{value} << 32);
}

Result<> check_queue_size(uint32_t size, uint16_t max) {
    if (size == 0 || size > max || !std::has_single_bit(size))
        return fail_as(ErrorKind::kGuestFault, "queue size {} is not a power of two within 1..{}", size, max);
    return {};
}

Result<> check_queue_ready(const QueueSetup& queue, uint16_t max) {
    if (auto r = check_queue_size(queue.size, max); !r) return r;
    if (queue.desc % 16 != 0) return fail_as(ErrorKind::kGuestFault, "descriptor table {:#x} not 16-aligned", queue.desc);
    if (queue.driver % 2 != 0) return fail_as(ErrorKind::kGuestFault, "driver area {:#x} not 2-aligned", queue.driver);
    if (queue.device % 4 != 0) return fail_as(ErrorKind::kGuestFault, "device area {:#x} not 4-aligned", queue.device);
    return {};
}

QueueConfig queue_config(uint16_t index, const QueueSetup& queue) {
    return QueueConfig{index, queue.size, queue.desc, queue.driver, queue.device};
}

}  // namespace xenvhost::transport
