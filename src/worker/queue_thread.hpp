#pragma once
// One running ring on its own thread: the shell around queue::QueueEngine.
// It waits (epoll) for kicks, I/O completions and commands from the control
// thread, drives the engine, and signals the call eventfd when the engine's
// published batch asks for it.

#include "queue/queue_engine.hpp"
#include "vhost_user/vring_runner.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace xenvhost::worker {

class QueueThread final {
public:
    static Result<std::unique_ptr<QueueThread>> start(const vhost_user::VringStart& start,
                                                      devices::Device& device, queue::QueueStats& stats);
    ~QueueThread();

    // Finishes in-flight requests, publishes them, joins; returns the next avail index.
    uint16_t stop();
    void set_call(std::shared_ptr<UniqueFd> call);
    // Logs where the ring stands, from the ring's thread (which owns it).
    void report(std::string prefix);
    // Moves the ring to new guest memory; waits until the thread has done so.
    Result<> set_memory(std::shared_ptr<const memory::GuestMemory> memory);

    QueueThread(virtio::SplitRing ring, const vhost_user::VringStart& start,
                std::unique_ptr<devices::QueueHandler> handler, queue::QueueStats& stats, UniqueFd epoll,
                UniqueFd wake);

private:
    void run();
    void handle_commands();
    // Publishes through the engine and notifies the driver if it asked.
    void publish();

    queue::QueueEngine engine_;
    uint16_t index_;
    int kick_fd_;
    queue::QueueStats& stats_;
    UniqueFd epoll_;
    UniqueFd wake_;  // eventfd: a command is waiting
    uint16_t next_avail_ = 0;

    std::mutex call_mutex_;
    std::shared_ptr<UniqueFd> call_;

    // Commands from the control thread.
    std::mutex cmd_mutex_;
    std::condition_variable cmd_done_;
    bool stop_requested_ = false;
    bool stopped_ = false;
    std::shared_ptr<const memory::GuestMemory> new_memory_;
    bool memory_pending_ = false;
    std::optional<std::string> report_prefix_;
    std::optional<Error> memory_result_;
    uint64_t memory_generation_ = 0;
    uint64_t memory_applied_ = 0;

    std::thread thread_;
};

}  // namespace xenvhost::worker
