#pragma once
// The back-end state machine of one front-end connection: features, protocol
// features, rings, the memory table. Messages arrive already validated
// against the message table; handlers check state and values.

#include "devices/device.hpp"
#include "memory/guest_memory.hpp"
#include "memory/iotlb.hpp"
#include "memory/map_stats.hpp"
#include "memory/xen_memory.hpp"
#include "memory/region_table.hpp"
#include "vhost_user/backend_channel.hpp"
#include "vhost_user/connection.hpp"
#include "vhost_user/message_table.hpp"
#include "vhost_user/vring_runner.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xenvhost::vhost_user {

struct SessionOptions {
    // Set when serving a Xen guest: offers XEN_MMAP and accepts Xen regions for this domid.
    bool xen = false;
    std::optional<uint32_t> domid;  // regions of any other domain are refused
    memory::XenHandles xen_handles;
    // Foreign regions the front-end lets us map in advance are mapped whole
    // when they arrive, instead of page by page per request.
    bool foreign_map_whole = true;
    // Mapping counters of the device, kept across connections.
    std::shared_ptr<memory::MapStats> map_stats = std::make_shared<memory::MapStats>();
};

class BackendSession {
public:
    BackendSession(Connection& conn, devices::Device& device, VringRunner& runner,
                   SessionOptions options);
    ~BackendSession();
    BackendSession(const BackendSession&) = delete;
    BackendSession& operator=(const BackendSession&) = delete;

    // Handles one message, replying as the protocol requires. An error means
    // the connection must be closed (a protocol violation or a dead socket).
    Result<> handle(Message& msg);

    // Stops every ring and drops guest memory (disconnect, RESET_*).
    void reset();

    // Tells the front-end the device config changed (CONFIG_CHANGE_MSG on the
    // back-end channel); fails if the front-end gave no channel.
    Result<> notify_config_change();

    // VIRTIO shared memory (SHMEM_MAP / SHMEM_UNMAP back-end requests): asks
    // the front-end to map [fd_offset, +len) of `fd` at `shm_offset` in
    // shared memory region `shmid`, or to unmap such a range.
    Result<> shmem_map(uint8_t shmid, int fd, uint64_t fd_offset, uint64_t shm_offset, uint64_t len,
                       bool writable);
    Result<> shmem_unmap(uint8_t shmid, uint64_t shm_offset, uint64_t len);

    // Protocol features this back-end offers.
    uint64_t offered_protocol_features() const;
    const char* memory_mode() const;

private:
    struct Vring {
        uint32_t num = 0;
        bool has_addr = false;
        VringAddr addr{};
        uint16_t base = 0;
        UniqueFd kick;
        std::shared_ptr<UniqueFd> call;
        std::shared_ptr<UniqueFd> err;
        bool enabled = false;
        bool started = false;  // kick received, not stopped by GET_VRING_BASE
        bool running = false;  // handed to the runner
    };

    // What a handler decided. kRefused: a valid message we will not act on;
    // the front-end sees a failure ack (if it asked) or a failure reply body.
    enum class Outcome { kOk, kRefused };
    using HandlerResult = Result<Outcome>;

    HandlerResult dispatch(Message& msg, const MessageSpec& spec);
    Result<> send_refusal(const Message& msg);

    HandlerResult set_features(uint64_t features);
    HandlerResult set_protocol_features(uint64_t features);
    HandlerResult set_mem_table(Message& msg);
    HandlerResult add_mem_reg(Message& msg);
    HandlerResult rem_mem_reg(Message& msg);
    HandlerResult set_vring_num(const VringState& s);
    HandlerResult set_vring_addr(const VringAddr& a);
    HandlerResult set_vring_base(const VringState& s);
    HandlerResult get_vring_base(const VringState& s);
    HandlerResult set_vring_fd(Message& msg, Request which);
    HandlerResult set_vring_enable(const VringState& s);
    HandlerResult get_config(const Message& msg);
    HandlerResult get_inflight_fd(const Message& msg);
    HandlerResult set_inflight_fd(Message& msg);
    HandlerResult set_config(const Message& msg);

    Result<Vring*> vring(uint32_t index);
    bool has_protocol_feature(unsigned bit) const { return protocol_features_ & (uint64_t{1} << bit); }
    Result<memory::RegionDesc> parse_region(const uint8_t* p, bool xen_layout) const;
    Result<std::shared_ptr<const memory::Region>> make_region(const memory::RegionDesc& d, UniqueFd fd) const;
    HandlerResult install_memory(memory::RegionTable table);
    // Builds the guest-memory view the negotiated features call for
    // (Xen mappings, IOTLB translation, or plain mmap) over table_.
    HandlerResult rebuild_memory();
    bool iotlb_mode() const;
    HandlerResult iotlb_msg(const Message& msg);
    // A region the session will not take: refused (policy) or fatal (malformed).
    HandlerResult region_error(uint32_t index, const Error& e) const;
    // Starts or stops the runner for a ring according to its state.
    HandlerResult update_ring(uint16_t index);
    void stop_ring(uint16_t index);

    Connection& conn_;
    devices::Device& device_;
    VringRunner& runner_;
    SessionOptions options_;
    uint64_t acked_features_ = 0;
    bool features_set_ = false;
    uint64_t protocol_features_ = 0;
    uint8_t status_ = 0;
    std::vector<Vring> vrings_;
    memory::RegionTable table_;
    std::shared_ptr<const memory::GuestMemory> memory_;
    std::shared_ptr<const virtio::InflightArea> inflight_;
    std::shared_ptr<BackendChannel> channel_;
    std::shared_ptr<memory::Iotlb> iotlb_ = std::make_shared<memory::Iotlb>();
};

}  // namespace xenvhost::vhost_user
