#pragma once
// The virtio-blk queue handler: one io_uring per queue thread, many requests
// in flight, each request a short sequence of io_uring operations (a read or
// write continued until complete; fallocate with its fallbacks; a datasync
// in writethrough mode).

#include "base/error.hpp"
#include "base/mapping.hpp"
#include "devices/blk/blk_disk.hpp"
#include "devices/blk/blk_iov.hpp"
#include "devices/blk/blk_request.hpp"
#include "devices/blk/blk_uring.hpp"
#include "devices/device.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace xenvhost::devices::blk {

class BlkQueue final : public QueueHandler {
public:
    static Result<std::unique_ptr<BlkQueue>> create(std::shared_ptr<BlkDisk> disk, uint16_t index,
                                                    uint16_t queue_size);
    // Waits for operations the kernel still has (they write into guest
    // buffers); requests not yet submitted are dropped without completion.
    ~BlkQueue() override;

    void start(uint16_t slot, const Request& req, CompletionSink& sink) override;
    void flush() override;
    int completion_fd() const override { return ring_->event_fd(); }
    void reap(CompletionSink& sink) override;
    unsigned in_flight() const override { return in_flight_; }
    std::optional<memory::GuestBuffer> answer_unmapped(std::span<const memory::GuestBuffer> chain) const override {
        return status_byte_buffer(chain);
    }

    // Counters for tests and status.
    uint64_t io_errors() const { return io_errors_; }
    uint64_t guest_errors() const { return guest_errors_; }

private:
    enum class Step : uint8_t { kRead, kWrite, kDatasync, kPunchHole, kZeroRange, kZeroFill };

    struct Slot {
        bool active = false;
        bool in_kernel = false;  // an SQE is prepped for this slot and its CQE is not seen yet
        BlkOp op = BlkOp::kComplete;
        Step step = Step::kRead;
        bool buffered = false;     // the O_DIRECT rules do not fit: use the buffered fd
        bool datasync_after = false;  // writethrough: make fallocate/zero-fill durable
        int rw_flags = 0;
        uint8_t retries = 0;
        uint8_t* status = nullptr;
        uint64_t offset = 0;  // the request's range, bytes
        uint64_t length = 0;
        uint64_t pos = 0;  // progress of the current read/write
        uint64_t left = 0;
        IovCursor data;  // the guest's data buffers, or zero pages for zero-fill
    };

    struct Private {};

public:
    BlkQueue(Private, std::shared_ptr<BlkDisk> disk, uint16_t index, uint16_t queue_size,
             std::unique_ptr<Uring> ring, Mapping zeroes);

private:
    Slot& slot_for(uint16_t slot);
    void begin(uint16_t slot, const ParsedRequest& p, CompletionSink& sink);
    // BlkDisk::null_io: completes a read/write/flush/discard/write-zeroes OK at once.
    void complete_null(uint16_t slot, const ParsedRequest& p, CompletionSink& sink);
    void discard_block_device(uint16_t slot, CompletionSink& sink);
    void setup_zero_fill(Slot& s);
    void queue_step(uint16_t slot, CompletionSink& sink);
    // BlkDisk::inline_io: the read or write step done here, at once.
    void transfer_inline(uint16_t slot, CompletionSink& sink);
    void prep(io_uring_sqe* sqe, uint16_t slot);
    int fd_for(const Slot& s) const;
    void on_cqe(uint16_t slot, int res, CompletionSink& sink);
    void on_transfer(uint16_t slot, int res, CompletionSink& sink);
    void after_range_op(uint16_t slot, CompletionSink& sink);
    void finish(uint16_t slot, uint8_t status, CompletionSink& sink);
    void fail_io(uint16_t slot, int err, CompletionSink& sink);
    void unpark();
    void submit();
    void note_guest_error(const ParsedRequest& p);

    std::shared_ptr<BlkDisk> disk_;
    uint16_t index_;
    std::unique_ptr<Uring> ring_;
    Mapping zeroes_;  // read-only anonymous zero pages, the source of zero-fill writes
    std::vector<Slot> slots_;
    std::deque<uint16_t> parked_;  // steps waiting for a free SQE
    unsigned in_flight_ = 0;
    unsigned in_kernel_ = 0;
    uint64_t io_errors_ = 0;
    uint64_t guest_errors_ = 0;
    bool warned_no_status_ = false;
    bool warned_submit_ = false;
};

}  // namespace xenvhost::devices::blk
