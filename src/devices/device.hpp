#pragma once
// The device interface. A device never sees the vhost-user protocol: it
// describes itself (features, queues, config space) and, for each started
// queue, provides a handler that runs on that queue's thread and turns
// requests (host iovecs of one descriptor chain) into I/O.

#include "memory/guest_memory.hpp"

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace xenvhost::devices {

// One descriptor chain as the device sees it, already mapped to host memory.
// `out` is driver-written (device reads), `in` is device-written, in chain
// order. The memory is guest memory: the guest may change it at any time, so
// a device copies what it must validate (headers) exactly once.
struct Request {
    std::span<const iovec> out;
    std::span<const iovec> in;
    // The request's buffers could not be mapped (a revoked grant, a missing
    // frame); `in` holds only what answer_unmapped() named, so the device
    // can answer with an error. The worker has logged why.
    bool unmapped = false;
};

// Receives completions; `written` is the number of bytes the device wrote
// into the request's `in` buffers (the used length).
class CompletionSink {
public:
    virtual void complete(uint16_t slot, uint32_t written) = 0;

protected:
    ~CompletionSink() = default;
};

// Per-queue device state, created and used on the queue's thread only.
class QueueHandler {
public:
    virtual ~QueueHandler() = default;
    // Starts a request identified by `slot` (unique among this queue's
    // in-flight requests). Completes it through `sink`, either at once or
    // later from reap(). `req` stays valid until the request is completed.
    virtual void start(uint16_t slot, const Request& req, CompletionSink& sink) = 0;
    // Submits whatever start() batched. Called once per batch of requests.
    virtual void flush() = 0;
    // Readable when asynchronous completions are waiting; -1 if none exist.
    virtual int completion_fd() const = 0;
    // Delivers waiting completions to `sink`.
    virtual void reap(CompletionSink& sink) = 0;
    // Requests started and not yet completed.
    virtual unsigned in_flight() const = 0;
    // The guest bytes the device needs to answer a request whose buffers
    // could not be mapped (`buffers`: the whole chain, in order); they are
    // mapped alone and the request started with `unmapped` set. None: the
    // request is completed with nothing written.
    virtual std::optional<memory::GuestBuffer> answer_unmapped(std::span<const memory::GuestBuffer> buffers) const {
        (void)buffers;
        return std::nullopt;
    }
};

class Device {
public:
    virtual ~Device() = default;
    // "block", as printed by --print-capabilities.
    virtual std::string_view type() const = 0;
    // virtio device features offered to the driver, including transport bits
    // (VERSION_1, INDIRECT_DESC, EVENT_IDX, ...); the vhost-user layer adds its own.
    virtual uint64_t features() const = 0;
    // Called when the driver's feature set is known.
    virtual void set_acked_features(uint64_t features) = 0;
    virtual uint16_t num_queues() const = 0;
    virtual uint16_t max_queue_size() const = 0;
    // Device config space (virtio_blk_config for a disk).
    virtual std::span<const uint8_t> config() const = 0;
    // Driver write to config space; false if the write touches read-only fields.
    virtual bool write_config(uint32_t offset, std::span<const uint8_t> data) = 0;
    virtual std::unique_ptr<QueueHandler> make_queue_handler(uint16_t index,
                                                             uint16_t queue_size) = 0;
    // Re-reads what the config space is built from (a disk's size after the
    // image grew); true if the config changed and the driver should be told.
    virtual bool refresh_config() { return false; }
    // Sizes of the device's VIRTIO shared memory regions (GET_SHMEM_CONFIG); none by default.
    virtual std::vector<uint64_t> shared_memory_regions() const { return {}; }
};

}  // namespace xenvhost::devices
