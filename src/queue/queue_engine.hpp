#pragma once
// The per-ring engine, without a thread: takes available heads, walks and
// maps their chains, starts them on the device's queue handler, completes
// them (releasing their mappings before the guest can see the used element),
// publishes used elements with EVENT_IDX, keeps the inflight area and
// resubmits what it recorded, and stops the queue on a guest fault. The
// caller decides when each step runs (worker::QueueThread: a thread with
// epoll; the unit tests and the fuzzer: plain calls) and owns notifications.

#include "base/unique_fd.hpp"
#include "devices/device.hpp"
#include "memory/guest_memory.hpp"
#include "queue/queue_stats.hpp"
#include "virtio/descriptor_chain.hpp"
#include "virtio/inflight.hpp"
#include "virtio/split_ring.hpp"

#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace xenvhost::queue {

struct EngineSetup {
    uint16_t index = 0;      // the queue's index, for log lines and the inflight area
    bool indirect = false;   // INDIRECT_DESC negotiated
    uint64_t features = 0;   // acked features (recorded in the inflight area)
    std::shared_ptr<UniqueFd> err;  // signalled when the queue stops on a guest fault; may be null
    std::shared_ptr<const virtio::InflightArea> inflight;  // may be null
    // Each buffer the device wrote is read back through a mapping made then
    // and compared with what the long-lived mapping shows, before the
    // request is used: a difference means the guest would not see the data
    // (a mapping that no longer names its frames). Costs a map per buffer.
    bool verify_writes = false;
};

class QueueEngine final : private devices::CompletionSink {
public:
    QueueEngine(virtio::SplitRing ring, const EngineSetup& setup, std::shared_ptr<const memory::GuestMemory> memory,
                std::unique_ptr<devices::QueueHandler> handler, QueueStats& stats);

    // Maps the ring if it was made unmapped (mapping may wait for the
    // front-end, so it happens on the caller's ring thread); a failure stops the queue.
    void attach();
    // Starts every head the driver made available (resubmitted ones first)
    // and flushes them to the device. With EVENT_IDX it re-checks after
    // arming the kick at most `rounds` times (a guest can keep it busy).
    void process_available(unsigned rounds = std::numeric_limits<unsigned>::max());
    // Delivers the device's waiting completions.
    void reap() { handler_->reap(*this); }
    void flush() { handler_->flush(); }
    // Makes completed used elements visible; true if the driver asked to be notified.
    bool publish();
    // Moves the ring to new guest memory (null: the memory was removed, so
    // the queue stops and keeps no mapping of it). A failed remap stops the queue.
    Result<> set_memory(std::shared_ptr<const memory::GuestMemory> memory);
    // Takes no more heads and publishes what completed; returns the next avail index.
    uint16_t stop();

    int completion_fd() const { return handler_->completion_fd(); }
    unsigned in_flight() const { return handler_->in_flight(); }
    bool broken() const { return broken_; }
    // Where the ring stands, for an operator's report (ring thread only).
    std::string describe() const;

private:
    void setup_inflight();
    // Walks, maps and starts one head; false if it was not handed to the device.
    bool submit(uint16_t head);
    // The one reaction to a guest fault: the queue stops and the front-end hears of it.
    void mark_broken(std::string_view why);
    void complete(uint16_t slot, uint32_t written) override;
    // The device's data did not reach the guest (a failed grant copy back):
    // the request is answered again as one whose buffers could not be
    // mapped, through the status byte alone. False if that was impossible.
    bool answer_failed_finish(uint16_t slot);
    // EngineSetup::verify_writes: compares slot's device-written bytes with
    // a fresh reading of the same guest addresses.
    void verify_writes(uint16_t slot);

    virtio::SplitRing ring_;
    uint16_t index_;
    uint64_t features_;
    std::shared_ptr<UniqueFd> err_;
    std::shared_ptr<const memory::GuestMemory> memory_;
    std::unique_ptr<devices::QueueHandler> handler_;
    QueueStats& stats_;

    virtio::ChainWalker walker_;
    virtio::DescriptorChain chain_;
    std::vector<memory::MappedBuffers> slots_;  // per head; reused so their storage stays
    // Per head: where the device answers an error (QueueHandler::answer_unmapped).
    std::vector<std::optional<memory::GuestBuffer>> answers_;
    bool answering_ = false;  // inside answer_failed_finish
    std::vector<uint8_t> in_flight_;
    bool broken_ = false;
    bool stopped_ = false;
    std::shared_ptr<const virtio::InflightArea> inflight_area_;
    std::optional<virtio::SplitInflight> inflight_;
    std::vector<uint16_t> resubmit_;  // heads in flight before a restart, oldest first
    bool verify_ = false;
    std::vector<std::vector<memory::GuestBuffer>> written_bufs_;  // per head, with verify_
};

}  // namespace xenvhost::queue
