#pragma once
// The vhost-user front-end protocol: one typed call per message, the way
// QEMU's hw/virtio/vhost-user.c sends them. Replies must have flags exactly
// 0x5 and the request id of the message they answer. With REPLY_ACK
// negotiated and need_reply_all set, every message without a reply body
// carries NEED_REPLY and the call waits for the back-end's u64 verdict.

#include "base/error.hpp"
#include "frontend/addressing.hpp"
#include "frontend/bytes.hpp"
#include "frontend/connection.hpp"
#include "frontend/guest_memory.hpp"
#include "vhost_user/messages.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace xenvhost::frontend {

using vhost_user::Request;

// One region as sent in SET_MEM_TABLE / ADD_MEM_REG / REM_MEM_REG.
struct RegionMessage {
    vhost_user::MemoryRegion region{};
    int fd = -1;  // not owned; -1 sends no fd
    std::optional<XenRegionAttrs> xen;
};

RegionMessage region_message(const Region& r);

// Payload encoders, public so hostile tests can start from a valid payload.
std::vector<uint8_t> encode_mem_table(std::span<const RegionMessage> regions, RegionFormat format);
std::vector<uint8_t> encode_single_region(const RegionMessage& region, RegionFormat format);

// The inflight area the back-end hands out (INFLIGHT_SHMFD). The front-end
// keeps it across back-end restarts and hands it back on every start.
struct InflightArea {
    uint64_t mmap_size = 0;
    uint64_t mmap_offset = 0;
    uint16_t num_queues = 0;
    uint16_t queue_size = 0;
    UniqueFd fd;
};

class VhostClient {
public:
    explicit VhostClient(Connection conn) : conn_(std::move(conn)) {}

    Connection& connection() { return conn_; }
    int reply_timeout_ms = 10000;

    // REPLY_ACK bookkeeping: acks are requested only once REPLY_ACK is
    // negotiated (set_protocol_features records it).
    bool reply_ack_negotiated() const { return reply_ack_; }
    void set_need_reply_all(bool on) { need_reply_all_ = on; }
    RegionFormat region_format() const { return region_format_; }
    void set_region_format(RegionFormat f) { region_format_ = f; }

    // Generic: a message whose reply carries a body (GET_*). Checks the reply.
    Result<Message> call(Request req, std::span<const uint8_t> payload = {},
                         std::span<const int> fds = {});
    // Generic: a message without a reply body; with acks on, waits for the
    // verdict and fails on a non-zero one.
    Result<void> send(Request req, std::span<const uint8_t> payload = {},
                      std::span<const int> fds = {});
    // Sends with NEED_REPLY regardless of the per-client setting and returns
    // the back-end's u64 verdict (0 = success).
    Result<uint64_t> send_with_ack(Request req, std::span<const uint8_t> payload = {},
                                   std::span<const int> fds = {});

    Result<uint64_t> get_features();
    Result<void> set_features(uint64_t features);
    Result<uint64_t> get_protocol_features();
    Result<void> set_protocol_features(uint64_t features);
    Result<void> set_owner();
    Result<void> reset_owner();
    Result<uint64_t> get_queue_num();
    Result<uint64_t> get_max_mem_slots();
    Result<std::vector<uint8_t>> get_config(uint32_t offset, uint32_t size);
    Result<void> set_config(uint32_t offset, std::span<const uint8_t> data, uint32_t flags = 0);

    Result<void> set_mem_table(std::span<const RegionMessage> regions);
    Result<void> set_mem_table(const GuestMemory& mem);
    Result<void> add_mem_reg(const RegionMessage& region);
    Result<void> rem_mem_reg(const RegionMessage& region);

    Result<void> set_vring_num(uint32_t index, uint32_t num);
    Result<void> set_vring_addr(const vhost_user::VringAddr& addr);
    Result<void> set_vring_base(uint32_t index, uint32_t base);
    Result<uint32_t> get_vring_base(uint32_t index);
    // fd < 0 sends the "no fd" bit (polling mode) instead of an fd.
    Result<void> set_vring_kick(uint32_t index, int fd);
    Result<void> set_vring_call(uint32_t index, int fd);
    Result<void> set_vring_err(uint32_t index, int fd);
    Result<void> set_vring_enable(uint32_t index, bool enable);

    // GET_INFLIGHT_FD: the reply carries the area's size and one fd (none
    // when mmap_size is 0).
    Result<InflightArea> get_inflight_fd(uint16_t num_queues, uint16_t queue_size);
    Result<void> set_inflight_fd(const InflightArea& area);

    Result<void> set_status(uint8_t status);
    Result<uint8_t> get_status();
    Result<void> reset_device();

private:
    Result<uint64_t> get_u64(Request req);
    Result<Message> await_reply(Request req);
    Result<void> vring_fd_message(Request req, uint32_t index, int fd);

    Connection conn_;
    bool reply_ack_ = false;
    bool need_reply_all_ = true;
    RegionFormat region_format_ = RegionFormat::kPlain;
};

}  // namespace xenvhost::frontend
