#pragma once
// One running ring on its own thread: waits for kicks and I/O completions,
// walks and maps chains, hands requests to the device's queue handler, and
// publishes used elements in batches (after their mappings are released).

#include "devices/device.hpp"
#include "memory/guest_memory.hpp"
#include "vhost_user/vring_runner.hpp"
#include "virtio/descriptor_chain.hpp"
#include "virtio/inflight.hpp"
#include "virtio/split_ring.hpp"
#include "worker/queue_stats.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace xenvhost::worker {

class QueueThread final : private devices::CompletionSink {
public:
    static Result<std::unique_ptr<QueueThread>> start(const vhost_user::VringStart& start,
                                                      devices::Device& device, QueueStats& stats);
    ~QueueThread();

    // Finishes in-flight requests, publishes them, joins; returns the next avail index.
    uint16_t stop();
    void set_call(std::shared_ptr<UniqueFd> call);
    // Moves the ring to new guest memory; waits until the thread has done so.
    Result<> set_memory(std::shared_ptr<const memory::GuestMemory> memory);

    QueueThread(virtio::SplitRing ring, const vhost_user::VringStart& start,
                std::unique_ptr<devices::QueueHandler> handler, QueueStats& stats, UniqueFd epoll,
                UniqueFd wake);

private:
    void run();
    void process_available();
    void setup_inflight();
    // Walks, maps and starts one head; false if it was not handed to the device.
    bool submit(uint16_t head);
    void handle_commands();
    void mark_broken(std::string_view why);
    bool map_status_only(memory::MappedBuffers& bufs);
    void publish();
    void complete(uint16_t slot, uint32_t written) override;

    virtio::SplitRing ring_;
    uint16_t index_;
    int kick_fd_;
    std::shared_ptr<UniqueFd> err_;
    std::shared_ptr<const memory::GuestMemory> memory_;
    std::unique_ptr<devices::QueueHandler> handler_;
    QueueStats& stats_;
    UniqueFd epoll_;
    UniqueFd wake_;  // eventfd: a command is waiting

    virtio::ChainWalker walker_;
    virtio::DescriptorChain chain_;
    std::vector<memory::MappedBuffers> slots_;
    std::vector<uint8_t> in_flight_;
    bool broken_ = false;
    std::shared_ptr<const virtio::InflightArea> inflight_area_;
    std::optional<virtio::SplitInflight> inflight_;
    std::vector<uint16_t> resubmit_;  // heads in flight before a restart, oldest first
    uint64_t features_ = 0;

    std::mutex call_mutex_;
    std::shared_ptr<UniqueFd> call_;

    // Commands from the control thread.
    std::mutex cmd_mutex_;
    std::condition_variable cmd_done_;
    bool stop_requested_ = false;
    bool stopped_ = false;
    std::shared_ptr<const memory::GuestMemory> new_memory_;
    bool memory_pending_ = false;
    std::optional<Error> memory_result_;
    uint64_t memory_generation_ = 0;
    uint64_t memory_applied_ = 0;

    std::thread thread_;
};

}  // namespace xenvhost::worker
