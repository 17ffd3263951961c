#pragma once
// A virtio-blk driver of a guest of xenvhost-dm, on either transport: the
// probe sequence Linux's virtio core and virtio_blk follow (reset,
// ACKNOWLEDGE, DRIVER, features, FEATURES_OK read back, queue 0, DRIVER_OK),
// requests on a split ring laid out in the double's guest memory, notified
// through the transport when the device asks for it, and completions taken
// as Linux's interrupt handler takes them: wait for the line, read (and so
// clear) the interrupt status, drain the used ring, re-arm; or, with MSI-X
// (virtio-pci, as vp_find_vqs_msix sets it up: config on vector 0, the
// queue on vector 1), wait for the queue's message and drain, no register
// read.

#include "base/error.hpp"
#include "dm_guest_transport.hpp"
#include "frontend/blk_queue.hpp"
#include "frontend/guest_memory.hpp"
#include "frontend/split_queue.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace xenvhost::component {

namespace vstatus {
inline constexpr uint8_t kAcknowledge = 0x01, kDriver = 0x02, kDriverOk = 0x04, kFeaturesOk = 0x08;
inline constexpr uint8_t kNeedsReset = 0x40, kFailed = 0x80;
}  // namespace vstatus

inline constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }
inline constexpr uint64_t kVersion1 = bit(32);
inline constexpr uint64_t kEventIdx = bit(29);
// What Linux's virtio_blk and virtio core accept when offered: SIZE_MAX,
// SEG_MAX, GEOMETRY, RO, BLK_SIZE, FLUSH, TOPOLOGY, CONFIG_WCE, MQ, DISCARD,
// WRITE_ZEROES, SECURE_ERASE; INDIRECT_DESC, EVENT_IDX, VERSION_1,
// ACCESS_PLATFORM, ORDER_PLATFORM. Not RING_PACKED: this driver has split
// rings only (Linux would take it).
inline constexpr uint64_t kLinuxBlkFeatures = bit(1) | bit(2) | bit(4) | bit(5) | bit(6) | bit(9) | bit(10) |
                                              bit(11) | bit(12) | bit(13) | bit(14) | bit(16) | bit(28) | kEventIdx |
                                              kVersion1 | bit(33) | bit(36);

struct BringUp {
    uint16_t queue_size = 128;
    uint64_t accept = kLinuxBlkFeatures;
    // Ring addresses to program instead of real rings (a hostile guest).
    std::optional<uint64_t> rings_at;
    // MSI-X enabled after FEATURES_OK, vectors mapped before the queue is.
    bool msix = false;
};

class BlkGuest {
public:
    BlkGuest(GuestTransport& t, frontend::GuestMemory& mem, size_t ring_region) : t_(t), mem_(mem), region_(ring_region) {}

    GuestTransport& transport() { return t_; }
    // Up to DRIVER_OK; fails naming the step the device refused. The status
    // the driver reads back last is in last_status().
    Result<void> bring_up(const BringUp& o = {});
    uint8_t last_status() const { return last_status_; }
    uint64_t features() const { return features_; }
    // Capacity in sectors, two 32-bit reads inside one config generation.
    uint64_t capacity();

    frontend::BlkQueue& blk() { return *blk_; }
    frontend::SplitQueue& ring() { return *ring_; }
    // Queues `cmds`, publishes them and notifies if the device wants it.
    Result<void> submit(std::span<const frontend::BlkCommand> cmds);
    Result<void> submit(const frontend::BlkCommand& cmd) { return submit(std::span(&cmd, 1)); }
    // Interrupt by interrupt until `n` completions arrived.
    Result<std::vector<frontend::BlkCompletion>> collect(size_t n, int timeout_ms = 15000);
    // Drains the used ring and re-arms (vring_interrupt's work).
    Result<void> drain(std::vector<frontend::BlkCompletion>& out);
    Result<void> wait_line(bool level, int timeout_ms = 5000) const;

    uint8_t interrupt_bits() const { return isr_seen_; }
    unsigned interrupts() const { return interrupts_; }
    unsigned isr_reads() const { return isr_reads_; }
    unsigned notifies() const { return notifies_; }

private:
    Result<void> setup_ring(uint16_t size, bool event_idx);
    // One interrupt taken, by line and ISR or by message.
    Result<void> take_interrupt(int64_t deadline);

    GuestTransport& t_;
    frontend::GuestMemory& mem_;
    size_t region_;
    frontend::GpaAddressing gpa_;
    std::unique_ptr<frontend::SplitQueue> ring_;
    std::unique_ptr<frontend::BlkQueue> blk_;
    uint64_t features_ = 0;
    uint8_t last_status_ = 0;
    uint8_t isr_seen_ = 0;
    unsigned interrupts_ = 0;
    unsigned isr_reads_ = 0;
    unsigned notifies_ = 0;
    uint64_t messages_ = 0;  // queue messages taken (MSI-X)
};

}  // namespace xenvhost::component
