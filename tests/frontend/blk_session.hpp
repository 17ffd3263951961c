#pragma once
// A whole virtio-blk front-end over vhost-user, brought up the way QEMU's
// vhost-user-blk does it:
//   connect():  GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES,
//               SET_OWNER, GET_QUEUE_NUM, [GET_MAX_MEM_SLOTS], GET_CONFIG
//   prepare():  SET_FEATURES, [SET_STATUS], SET_MEM_TABLE; rings allocated
//   start():    prepare() if not done, then per queue
//               SET_VRING_NUM/BASE/ADDR/KICK/CALL, SET_VRING_ENABLE,
//               [SET_STATUS DRIVER_OK]
//   stop():     SET_VRING_ENABLE 0 and GET_VRING_BASE per queue.
// Guest memory, rings and per-queue blk drivers are owned here.

#include "base/error.hpp"
#include "frontend/blk_queue.hpp"
#include "frontend/guest_memory.hpp"
#include "frontend/negotiation.hpp"
#include "frontend/split_queue.hpp"
#include "frontend/vhost_client.hpp"

#include <linux/virtio_blk.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace xenvhost::frontend {

// QEMU 7.2's virtio_blk_config ends before the secure-erase fields.
inline constexpr uint32_t kBlkConfigSize = offsetof(virtio_blk_config, max_secure_erase_sectors);

// Protocol features this front-end implements.
uint64_t supported_protocol_features();
// Virtio features this front-end's blk driver understands (ring and blk bits).
uint64_t supported_blk_features();

// How the initial memory table is sent.
enum class MemoryMessages {
    kSetMemTable,  // one SET_MEM_TABLE (QEMU without CONFIGURE_MEM_SLOTS)
    kAddMemReg,    // one ADD_MEM_REG per region (QEMU with CONFIGURE_MEM_SLOTS)
};

struct SessionOptions {
    uint16_t num_queues = 1;
    uint16_t queue_size = 128;
    bool event_idx = true;        // ack EVENT_IDX when offered
    bool indirect = true;         // ack INDIRECT_DESC when offered
    bool indirect_chains = false; // send every request through an indirect table
    bool need_reply_all = true;   // NEED_REPLY on every message once REPLY_ACK is acked
    bool use_status = true;       // SET_STATUS when STATUS is acked
    uint64_t refuse_features = 0;           // virtio bits never acked
    uint64_t refuse_protocol_features = 0;  // protocol bits never acked
    std::vector<RegionLayout> regions;      // empty: one region of memory_size at gpa 0
    uint64_t memory_size = 64ull << 20;
    Backing backing = Backing::kSeparateMemfds;
    MemoryMessages memory_messages = MemoryMessages::kSetMemTable;
    std::optional<size_t> ring_region;      // where rings go
    BlkQueueOptions blk;
    const DescriptorAddressing* addressing = nullptr;  // default: guest-physical
    uint16_t initial_ring_index = 0;  // free-running index the rings start at
    // Ack INFLIGHT_SHMFD when offered and use the area as QEMU does:
    // GET_INFLIGHT_FD once, SET_INFLIGHT_FD on every start.
    bool inflight = false;
    int connect_retry_ms = 5000;
};

class BlkSession {
public:
    static Result<std::unique_ptr<BlkSession>> connect(const std::string& socket_path,
                                                       const SessionOptions& opts);
    Result<void> prepare();
    Result<void> start();
    // RESET_DEVICE; afterwards start() brings the device up again from
    // SET_FEATURES with fresh guest memory and rings.
    Result<void> reset_device();
    // After the back-end went away (crashed, restarted): a new connection
    // to `socket_path`, negotiated again, then the same inflight area,
    // memory and rings; each ring resumes at the used index in guest
    // memory, as QEMU does when GET_VRING_BASE could not be asked.
    Result<void> reconnect(const std::string& socket_path);
    bool has_inflight_area() const { return inflight_.fd.valid(); }

    // Disables and stops every ring; returns the GET_VRING_BASE answers.
    Result<std::vector<uint32_t>> stop();
    // Stops one ring (disable + GET_VRING_BASE).
    Result<uint32_t> stop_queue(uint16_t index);
    // Restarts a stopped ring where the device left it.
    Result<void> start_queue(uint16_t index, uint32_t base);

    VhostClient& client() { return *client_; }
    GuestMemory& memory() { return *memory_; }
    SplitQueue& queue(size_t i) { return *queues_.at(i); }
    BlkQueue& blk(size_t i = 0) { return *blk_.at(i); }
    size_t num_queues() const { return queues_.size(); }
    const SessionOptions& options() const { return opts_; }

    uint64_t offered_features() const { return negotiated_.offered_features; }
    uint64_t offered_protocol_features() const { return negotiated_.offered_protocol; }
    uint64_t acked_features() const { return acked_features_; }
    uint64_t acked_protocol_features() const { return negotiated_.acked_protocol; }
    uint64_t queue_num() const { return negotiated_.queue_num; }
    uint64_t max_mem_slots() const { return negotiated_.max_mem_slots; }
    const virtio_blk_config& config() const { return config_; }
    uint64_t capacity_sectors() const { return config_.capacity; }
    bool has_protocol(unsigned bit) const { return negotiated_.has_protocol(bit); }

private:
    explicit BlkSession(const SessionOptions& opts) : opts_(opts) {}
    // A new connection and the negotiation on it (connect() and reconnect()).
    Result<void> connect_and_negotiate(const std::string& socket_path);
    Result<void> setup_queue(uint16_t index, uint32_t base);
    // Every ring set up, then DRIVER_OK; `resume`: each ring from the used
    // index in guest memory (after a reconnect), else from the initial index.
    Result<void> start_rings(bool resume);
    Result<void> send_features_and_status();
    Result<void> send_memory();
    bool prepared_ = false;
    InflightArea inflight_;

    SessionOptions opts_;
    std::unique_ptr<VhostClient> client_;
    std::unique_ptr<GuestMemory> memory_;
    std::vector<std::unique_ptr<SplitQueue>> queues_;
    std::vector<std::unique_ptr<BlkQueue>> blk_;
    Negotiated negotiated_;
    uint64_t acked_features_ = 0;
    virtio_blk_config config_{};
};

}  // namespace xenvhost::frontend
