#pragma once
// A virtio-blk front-end (one queue) that sets up the back-end request
// channel and, optionally, drives the device through an IOMMU:
//   connect(): GET_FEATURES, GET/SET_PROTOCOL_FEATURES (REPLY_ACK,
//              BACKEND_REQ, CONFIG, MQ as asked), SET_OWNER, GET_CONFIG,
//              SET_BACKEND_REQ_FD with a socketpair end, as QEMU does at init
//   start():   SET_FEATURES (with ACCESS_PLATFORM when asked), SET_MEM_TABLE,
//              rings, the ring's IOMMU mappings (UPDATEs up front if asked)
//   restart(): the ring stopped, SET_FEATURES and SET_MEM_TABLE again, the
//              ring started where it stopped (a driver that reinitialised)
// The channel's reader answers CONFIG_CHANGE_MSG with 0 and an IOTLB MISS
// with an UPDATE on the main connection, then 0 (an IOVA the IOMMU does not
// map: no UPDATE, answer EFAULT). The main connection is shared between the
// test and that reader, one request/reply at a time; a MISS answer waits at
// most `miss_lock_timeout_ms` for it (a test holding it while the back-end
// waits for that answer would otherwise deadlock the two).

#include "base/error.hpp"
#include "frontend/backend_channel.hpp"
#include "frontend/backend_channel_iommu.hpp"
#include "frontend/blk_queue.hpp"
#include "frontend/guest_memory.hpp"
#include "frontend/split_queue.hpp"
#include "frontend/vhost_client.hpp"

#include <linux/virtio_blk.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace xenvhost::frontend {

// How the front-end reacts to CONFIG_CHANGE_MSG.
enum class ConfigChangeStyle {
    kAnswerFirst,      // answer, then the test reads the config when it likes
    kReadConfigFirst,  // GET_CONFIG on the main connection, then answer (QEMU's order)
};

// Eight requests of up to 128 KiB in flight.
inline BlkQueueOptions default_blk_options() {
    BlkQueueOptions o;
    o.depth = 8;
    o.max_data = 128 * 1024;
    return o;
}

struct ChannelSessionOptions {
    uint16_t queue_size = 128;
    BlkQueueOptions blk = default_blk_options();
    uint64_t memory_size = 32ull << 20;
    // Where guest memory sits; with an IOMMU the back-end must not use it.
    uint64_t memory_gpa = 0x1'0000'0000;
    bool reply_ack = true;
    bool channel = true;          // BACKEND_REQ and SET_BACKEND_REQ_FD
    bool access_platform = false; // rings and buffers addressed by IOVA
    bool rings_up_front = true;   // UPDATE the ring areas before the ring starts
    bool event_idx = true;
    MissAnswer miss_answer = MissAnswer::kPage;
    ConfigChangeStyle config_change = ConfigChangeStyle::kAnswerFirst;
    int miss_lock_timeout_ms = 3000;
    int connect_retry_ms = 5000;
};

// Per-slot IOMMU mappings of the blk driver: its header/status block and its data buffer.
struct SlotMappings {
    IommuMapping meta, data;
};

class ChannelBlkSession {
public:
    static Result<std::unique_ptr<ChannelBlkSession>> connect(const std::string& socket_path,
                                                              const ChannelSessionOptions& opts);
    ~ChannelBlkSession();

    Result<void> start();
    Result<void> restart();

    // GET_CONFIG now.
    Result<virtio_blk_config> read_config();
    // IOTLB_MSG on the main connection; the back-end's u64 answer.
    Result<uint64_t> iotlb(const vhost_user::IotlbMsg& m);
    Result<uint64_t> update(const IommuMapping& m);
    Result<uint64_t> invalidate(uint64_t iova, uint64_t size);
    // As a guest driver's DMA unmap: out of the IOMMU, then INVALIDATE.
    Result<uint64_t> unmap_and_invalidate(const IommuMapping& m);
    // Sends the translations of a blk slot up front.
    Result<void> update_slot(unsigned slot);

    // IOTLB MISS requests the back-end sent, in order.
    std::vector<vhost_user::IotlbMsg> misses() const;
    // Configs read by the channel reader (kReadConfigFirst), in order.
    std::vector<virtio_blk_config> configs_read_on_change() const;

    // The test's own requests on the main connection.
    template <typename F>
    auto with_client(F&& f) {
        std::lock_guard lock(client_mutex_);
        return f(*client_);
    }

    BackendChannel* channel() { return channel_.get(); }
    Iommu* iommu() { return iommu_.get(); }
    GuestMemory& memory() { return *memory_; }
    SplitQueue& queue() { return *queue_; }
    BlkQueue& blk() { return *blk_; }
    const SlotMappings& slot_mappings(unsigned slot) const { return slots_.at(slot); }
    const IommuMapping& ring_mapping(size_t i) const { return rings_.at(i); }  // desc, avail, used
    const ChannelSessionOptions& options() const { return opts_; }
    uint64_t offered_features() const { return offered_features_; }
    uint64_t offered_protocol_features() const { return offered_protocol_; }
    uint64_t acked_features() const { return acked_features_; }
    uint64_t acked_protocol_features() const { return acked_protocol_; }
    const virtio_blk_config& initial_config() const { return config_; }

private:
    explicit ChannelBlkSession(const ChannelSessionOptions& opts) : opts_(opts) {}
    Result<void> negotiate();
    Result<void> open_channel();
    Result<void> map_rings_and_slots();
    Result<void> update_rings();
    Result<void> setup_ring(uint32_t base);
    uint64_t answer_miss(Message& msg);
    uint64_t answer_config_change();
    Result<uint64_t> iotlb_locked(const vhost_user::IotlbMsg& m);
    std::unique_lock<std::mutex> lock_client_for(int timeout_ms);

    ChannelSessionOptions opts_;
    // The main connection. Waits bounded by time poll try_lock(): the
    // ThreadSanitizer of g++ 12 does not see timed mutex locks.
    std::mutex client_mutex_;
    std::unique_ptr<VhostClient> client_;
    std::unique_ptr<GuestMemory> memory_;
    std::unique_ptr<Iommu> iommu_;
    std::unique_ptr<SplitQueue> queue_;
    std::unique_ptr<BlkQueue> blk_;
    std::vector<IommuMapping> rings_;
    std::vector<SlotMappings> slots_;
    mutable std::mutex configs_mutex_;
    std::vector<virtio_blk_config> configs_on_change_;
    uint64_t offered_features_ = 0, offered_protocol_ = 0;
    uint64_t acked_features_ = 0, acked_protocol_ = 0;
    virtio_blk_config config_{};
    // Last: its reader uses everything above and is stopped first.
    std::unique_ptr<BackendChannel> channel_;
};

}  // namespace xenvhost::frontend
