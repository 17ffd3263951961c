#pragma once
// The back-end state machine of one front-end connection: features, protocol
// features, rings, the memory table. Messages arrive already validated
// against the message table; handlers check state and values.

#include "devices/device.hpp"
#include "memory/guest_memory.hpp"
#include "memory/iotlb.hpp"
#include "memory/map_stats.hpp"
#include "memory/memory_builder.hpp"
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
    // Builds regions and views of guest memory; its policy says whether this
    // is a Xen guest (XEN_MMAP offered) and which domain's regions to take.
    std::shared_ptr<const memory::MemoryBuilder> memory = std::make_shared<memory::MemoryBuilder>();
    // Mapping counters of the device, kept across connections.
    std::shared_ptr<memory::MapStats> map_stats = std::make_shared<memory::MapStats>();
    // Diagnostics: read every buffer the device wrote back through a new
    // mapping before the request completes (see QueueEngine).
    bool verify_guest_writes = false;
};

class BackendSession {
public:
    BackendSession(Connection& conn, devices::Device& device, VringRunner& runner,
                   SessionOptions options);
    ~BackendSession();
    BackendSession(const BackendSession&) = delete;
    BackendSession& operator=(const BackendSession&) = delete;

    // Handles one message, replying as the protocol requires. A handler's
    // kPolicy error is a refusal the front-end is told of; any other error
    // means the connection must be closed (a protocol violation, a dead socket).
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
    // The last thing this domain was refused for the guest by Xen or its own
    // kernel (a xen/privilege.hpp refusal, from a message that failed or was
    // refused), or empty.
    const std::string& privilege_refusal() const { return privilege_refusal_; }

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

    // Each handler replies as its message requires and returns an error of
    // kind kPolicy to refuse a valid message, any other kind to end the connection.
    using Handler = Result<> (BackendSession::*)(Message& msg);
    struct Route;
    static const Route* route(Request id);

    Result<> run_handler(Message& msg);
    Result<> send_refusal(const Message& msg);
    uint64_t offered_features() const;

    Result<> get_features(Message& msg);
    Result<> set_features(Message& msg);
    Result<> get_protocol_features(Message& msg);
    Result<> set_protocol_features(Message& msg);
    Result<> set_owner(Message& msg);
    Result<> reset_owner(Message& msg);
    Result<> reset_device(Message& msg);
    Result<> get_queue_num(Message& msg);
    Result<> get_max_mem_slots(Message& msg);
    Result<> set_mem_table(Message& msg);
    Result<> add_mem_reg(Message& msg);
    Result<> rem_mem_reg(Message& msg);
    Result<> set_vring_num(Message& msg);
    Result<> set_vring_addr(Message& msg);
    Result<> set_vring_base(Message& msg);
    Result<> get_vring_base(Message& msg);
    Result<> set_vring_kick(Message& msg);
    Result<> set_vring_call(Message& msg);
    Result<> set_vring_err(Message& msg);
    Result<> set_vring_enable(Message& msg);
    Result<> get_config(Message& msg);
    Result<> set_config(Message& msg);
    Result<> set_status(Message& msg);
    Result<> get_status(Message& msg);
    Result<> get_inflight_fd(Message& msg);
    Result<> set_inflight_fd(Message& msg);
    Result<> set_backend_req_fd(Message& msg);
    Result<> iotlb_msg(Message& msg);
    Result<> get_shmem_config(Message& msg);

    Result<Vring*> vring(uint32_t index);
    bool has_protocol_feature(unsigned bit) const { return protocol_features_ & (uint64_t{1} << bit); }
    // ADD_MEM_REG / REM_MEM_REG: the region in a payload of the negotiated size.
    Result<const uint8_t*> single_region(const Message& msg) const;
    Result<memory::RegionDesc> parse_region(const uint8_t* p, bool xen_layout) const;
    Result<std::shared_ptr<const memory::Region>> take_region(const uint8_t* p, bool xen_layout, UniqueFd fd) const;
    Result<> install_memory(memory::RegionTable table);
    // Builds the guest-memory view the negotiated features call for over table_.
    Result<> rebuild_memory();
    memory::Addressing addressing() const;
    bool iotlb_mode() const { return addressing() == memory::Addressing::kIoVirtual; }
    Result<> set_vring_fd(Message& msg, Request which);
    // Starts or stops the runner for a ring according to its state.
    Result<> update_ring(uint16_t index);
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
    std::string privilege_refusal_;
};

}  // namespace xenvhost::vhost_user
