#pragma once
// What the session fuzzers put around vhost_user::BackendSession: a device
// with no I/O, a runner that processes rings inline (mapping them through
// virtio::SplitRing and walking chains as the worker's queue threads do), and
// a driver that plays the front-end over a real socketpair, fds included.

#include "devices/device.hpp"
#include "vhost_user/backend_session.hpp"
#include "virtio/descriptor_chain.hpp"
#include "virtio/inflight.hpp"
#include "virtio/split_ring.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace xenvhost::fuzz {

// Describes itself like a small virtio-blk disk and completes every request at once.
class FuzzDevice final : public devices::Device {
public:
    FuzzDevice(uint16_t queues, uint16_t max_queue_size);

    std::string_view type() const override { return "block"; }
    uint64_t features() const override;
    void set_acked_features(uint64_t features) override { acked_ = features; }
    uint16_t num_queues() const override { return queues_; }
    uint16_t max_queue_size() const override { return max_queue_size_; }
    std::span<const uint8_t> config() const override { return config_; }
    bool write_config(uint32_t offset, std::span<const uint8_t> data) override;
    std::unique_ptr<devices::QueueHandler> make_queue_handler(uint16_t index, uint16_t queue_size) override;

private:
    uint16_t queues_;
    uint16_t max_queue_size_;
    uint64_t acked_ = 0;
    std::array<uint8_t, 60> config_{};
};

// Runs started rings on the calling thread. Each start, kick and memory
// change processes what the driver made available, with the worker's rules:
// a guest error marks the ring broken, a failed mapping fails one request.
class InlineRunner final : public vhost_user::VringRunner, public devices::CompletionSink {
public:
    explicit InlineRunner(devices::Device& device) : device_(device) {}
    ~InlineRunner();

    Result<> start(const vhost_user::VringStart& start) override;
    uint16_t stop(uint16_t index) override;
    void set_call(uint16_t index, std::shared_ptr<UniqueFd> call) override;
    Result<> set_memory(std::shared_ptr<const memory::GuestMemory> memory) override;
    void complete(uint16_t slot, uint32_t written) override;

    // A kick on ring `index` (ignored if it is not running).
    void kick(uint16_t index);
    size_t running() const { return rings_.size(); }
    // The guest memory the session handed over last (start or set_memory).
    const std::shared_ptr<const memory::GuestMemory>& memory() const { return memory_; }
    uint64_t requests() const { return requests_; }

private:
    struct Ring {
        Ring(virtio::SplitRing r, uint16_t size, bool indirect) : ring(std::move(r)), walker(size, indirect) {}
        virtio::SplitRing ring;
        virtio::RingAddresses addrs;
        virtio::ChainWalker walker;
        virtio::DescriptorChain chain;
        memory::MappedBuffers bufs;
        std::shared_ptr<const memory::GuestMemory> memory;
        std::unique_ptr<devices::QueueHandler> handler;
        std::shared_ptr<const virtio::InflightArea> inflight_area;  // keeps the area mapped
        std::optional<virtio::SplitInflight> inflight;
        std::vector<uint16_t> resubmit;
        std::shared_ptr<UniqueFd> call;
        bool broken = false;
    };
    void process(Ring& r);
    void submit(Ring& r, uint16_t head);
    void publish(Ring& r);

    devices::Device& device_;
    std::map<uint16_t, Ring> rings_;
    std::shared_ptr<const memory::GuestMemory> memory_;
    Ring* current_ = nullptr;  // the ring whose requests complete() refers to
    uint64_t requests_ = 0;
};

// Known bugs a fuzzing campaign may step around while their fix is pending:
// XENVHOST_FUZZ_SKIP is a comma-separated list of names; unset, nothing is
// skipped (the corpus replay of `make test` never sets it).
//   misaligned-ring   ring areas whose host addresses break the alignment
//                     the guest addresses have (crash-ring-misaligned-*.bin)
bool skip_known_bug(std::string_view name);
// True if the ring areas of `addrs` map to host addresses misaligned for
// their types (16/2/4 bytes) although the guest addresses are aligned.
bool ring_misaligned_in_host(const memory::GuestMemory& mem, uint16_t size, const virtio::RingAddresses& addrs);

// Guest-memory invariants shared by the targets: every host iovec lies inside
// one mapped region of `mem`, and the iovecs add up to the chain's lengths.
void check_mapped_buffers(const memory::GuestMemory& mem, const virtio::DescriptorChain& chain,
                          const memory::MappedBuffers& bufs);
// [host, host+len) lies inside one mapped region of `mem`.
bool inside_mapped_region(const memory::GuestMemory& mem, const void* host, uint64_t len);

// Plays the front-end: one end of a socketpair is the session's Connection,
// the other is written here and drained of replies after every message.
class SessionDriver {
public:
    SessionDriver(devices::Device& device, vhost_user::VringRunner& runner, vhost_user::SessionOptions options);
    ~SessionDriver();

    // Sends one whole message and lets the session receive and handle it.
    // Returns false once the connection is closed (a protocol error).
    bool send(uint32_t request, uint32_t flags, std::span<const uint8_t> payload, std::span<const int> fds = {});
    template <typename T>
    bool send_obj(vhost_user::Request request, const T& v, std::span<const int> fds = {}, uint32_t flags = 1) {
        return send(static_cast<uint32_t>(request), flags, {reinterpret_cast<const uint8_t*>(&v), sizeof v}, fds);
    }
    // Writes arbitrary bytes, closes the write side, and lets the session
    // consume them until it gives up; the connection is closed afterwards.
    void send_raw_and_close(std::span<const uint8_t> bytes);

    bool alive() const { return session_ != nullptr; }
    // The last fd the back-end sent (the GET_INFLIGHT_FD area), handed over
    // so it can outlive the connection, as QEMU keeps it across reconnects.
    UniqueFd take_received_fd() { return std::move(received_fd_); }
    // Replies seen so far, by request id.
    const std::map<uint32_t, unsigned>& replies() const { return replies_; }

private:
    void receive_and_handle();
    void drain_replies();
    void close();

    UniqueFd peer_;
    std::unique_ptr<vhost_user::Connection> conn_;
    std::unique_ptr<vhost_user::BackendSession> session_;
    std::vector<uint8_t> reply_bytes_;
    std::map<uint32_t, unsigned> replies_;
    UniqueFd received_fd_;
};

}  // namespace xenvhost::fuzz
