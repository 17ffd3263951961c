#pragma once
// A virtio-blk driver of a guest of xenvhost-dm that uses grant DMA, as
// Linux's xen-grant-dma does: the pages of its split ring granted writable
// to the back-end domain for the ring's life and programmed as grant
// addresses (1<<63 | gref<<12), each request's pages granted when it is
// submitted and revoked when it completes (frontend::XenBlkQueue), every
// descriptor a grant address. In the double gref = frame, so a guest page
// at `gpa` has the grant address 1<<63 | gpa. Probe and interrupt handling
// are BlkGuest's, on either transport.

#include "base/error.hpp"
#include "dm_blk_guest.hpp"
#include "dm_guest_transport.hpp"
#include "frontend/addressing.hpp"
#include "frontend/guest_memory.hpp"
#include "frontend/split_queue.hpp"
#include "frontend/xen_blk_queue.hpp"
#include "frontend/xen_double_files.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace xenvhost::component {

// The grant address of a guest page in the double (gref = frame).
inline uint64_t grant_gpa(uint64_t gpa) { return frontend::kGrantAddressFlag | gpa; }

class GrantBlkGuest {
public:
    // expect_unmapped: each completed request's pages must be unmapped (off
    // where a SIGKILLed worker's mappings stay counted in the double).
    GrantBlkGuest(GuestTransport& t, frontend::GuestMemory& mem, frontend::XenDoubleFiles& files, size_t ring_region,
                  bool expect_unmapped = true)
        : t_(t), mem_(mem), files_(files), region_(ring_region), expect_unmapped_(expect_unmapped) {}

    GuestTransport& transport() { return t_; }
    // BlkGuest::bring_up with grant addresses; rings_at is used as given.
    Result<void> bring_up(const BringUp& o = {});
    uint8_t last_status() const { return last_status_; }
    uint64_t features() const { return features_; }

    frontend::XenBlkQueue& blk() { return *blk_; }
    frontend::SplitQueue& ring() { return *ring_; }
    // Adds (and grants) without making them visible: a hostile guest may
    // change its grants before publish().
    Result<void> queue(std::span<const frontend::BlkCommand> cmds);
    // Publishes and notifies if the device wants it.
    void publish();
    Result<void> submit(std::span<const frontend::BlkCommand> cmds);
    Result<void> submit(const frontend::BlkCommand& cmd) { return submit(std::span(&cmd, 1)); }
    // Interrupt by interrupt until `n` completions arrived.
    Result<std::vector<frontend::BlkCompletion>> collect(size_t n, int timeout_ms = 15000);
    Result<void> wait_line(bool level, int timeout_ms = 5000) const;
    uint8_t interrupt_bits() const { return isr_seen_; }

private:
    Result<void> setup_ring(uint16_t size, bool event_idx);
    Result<void> drain(std::vector<frontend::BlkCompletion>& out);

    GuestTransport& t_;
    frontend::GuestMemory& mem_;
    frontend::XenDoubleFiles& files_;
    size_t region_;
    bool expect_unmapped_;
    frontend::GrantAddressing grants_{0};
    std::unique_ptr<frontend::SplitQueue> ring_;
    std::unique_ptr<frontend::XenBlkQueue> blk_;
    uint64_t features_ = 0;
    uint8_t last_status_ = 0;
    uint8_t isr_seen_ = 0;
};

}  // namespace xenvhost::component
