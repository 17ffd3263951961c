#include "devices/blk/blk_options.hpp"

#include <linux/virtio_blk.h>

#include <bit>

namespace xenvhost::devices::blk {

namespace {
// One queue thread each in the worker; more than this is a typo, not a plan.
constexpr uint16_t kMaxQueues = 64;
// Split rings are a power of two no larger than 32768 (virtio 1.x, 2.7).
constexpr uint16_t kMinQueueSize = 4;
constexpr uint32_t kMaxQueueSize = 32768;
}  // namespace

Result<CacheMode> parse_cache_mode(std::string_view text) {
    if (text == "writeback") return CacheMode::kWriteback;
    if (text == "none") return CacheMode::kNone;
    return fail("cache mode '{}' is not one of: none, writeback", text);
}

std::string_view cache_mode_name(CacheMode mode) {
    return mode == CacheMode::kNone ? "none" : "writeback";
}

Result<IoPath> parse_io_path(std::string_view text) {
    if (text == "auto") return IoPath::kAuto;
    if (text == "uring") return IoPath::kUring;
    return fail("io path '{}' is not one of: auto, uring", text);
}

Result<> validate_options(const BlkOptions& o) {
    if (o.path.empty()) return fail("blk: no image file given");
    if (o.num_queues < 1 || o.num_queues > kMaxQueues)
        return fail("blk: num-queues {} is outside 1..{}", o.num_queues, kMaxQueues);
    if (o.queue_size < kMinQueueSize || o.queue_size > kMaxQueueSize ||
        !std::has_single_bit(o.queue_size))
        return fail("blk: queue-size {} is not a power of two in {}..{}", o.queue_size,
                    kMinQueueSize, kMaxQueueSize);
    if (o.serial.size() > VIRTIO_BLK_ID_BYTES)
        return fail("blk: serial '{}' is longer than {} bytes", o.serial, VIRTIO_BLK_ID_BYTES);
    return {};
}

}  // namespace xenvhost::devices::blk
