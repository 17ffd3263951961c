#pragma once
// A virtio-blk front-end over vhost-user with XEN_MMAP grant mappings, sending
// what xen-vhost-frontend sends (vhost-user-protocol.md §4.4-4.5):
//   connect(): GET_FEATURES, GET_PROTOCOL_FEATURES (XEN_MMAP must be offered),
//              SET_PROTOCOL_FEATURES {XEN_MMAP, MQ, CONFIG, REPLY_ACK},
//              SET_OWNER, GET_QUEUE_NUM, GET_CONFIG
//   start():   SET_FEATURES; rings in the pool's largest run of refs; the
//              40-byte table: each ring area a region mapped in advance
//              (flags 0x2, this process's address as user address), every
//              gap of grant space up to the table's end a "no advance map"
//              region (0x2|0x8, user address 0), all with the guest's domid
//              and its own open of /dev/xen/gntdev; then per queue
//              SET_VRING_NUM/BASE/ADDR/KICK/CALL and SET_VRING_ENABLE
//   stop():    SET_VRING_ENABLE 0, GET_VRING_BASE.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "frontend/blk_queue.hpp"
#include "frontend/negotiation.hpp"
#include "frontend/split_queue.hpp"
#include "frontend/vhost_client.hpp"
#include "grant_pool.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace xenvhost::grantfe {

struct GrantSessionOptions {
    uint32_t domid = 0;          // the granting domain, sent in every region
    // Foreign mode: the pool holds machine frames; one region per run (flags
    // 0x1, an fd of /dev/xen/privcmd), descriptors carry frame<<12 addresses.
    bool foreign = false;
    uint16_t queue_size = 128;
    uint32_t no_advance_flag = vhost_user::xen_mmap_flag::kNoAdvanceMapDeployed;
    // The table covers grant space [0, (table_refs)<<12): at least every
    // pool ref; more to make refs outside the pool addressable.
    uint32_t table_refs = 0;
    frontend::BlkQueueOptions blk;
    int connect_retry_ms = 5000;
};

class GrantSession {
public:
    // `pool` must outlive the session.
    static Result<std::unique_ptr<GrantSession>> connect(const std::string& socket_path, GrantPool& pool,
                                                         const GrantSessionOptions& opts);
    Result<void> start();
    // Disables the ring and returns GET_VRING_BASE's answer.
    Result<uint32_t> stop();

    frontend::VhostClient& client() { return *client_; }
    frontend::SplitQueue& queue() { return *queue_; }
    frontend::BlkQueue& blk() { return *blk_; }
    const std::vector<frontend::RegionMessage>& regions() const { return regions_; }
    uint64_t acked_features() const { return acked_features_; }
    uint64_t acked_protocol_features() const { return negotiated_.acked_protocol; }
    uint64_t capacity_sectors() const { return negotiated_.config_as<uint64_t>(); }
    std::string describe_table() const;

private:
    GrantSession(GrantPool& pool, const GrantSessionOptions& opts) : pool_(pool), opts_(opts) {}

    GrantPool& pool_;
    GrantSessionOptions opts_;
    std::vector<UniqueFd> gntdev_fds_;  // one per region, as xen-vhost-frontend opens them
    std::unique_ptr<frontend::VhostClient> client_;
    std::unique_ptr<frontend::SplitQueue> queue_;
    std::unique_ptr<frontend::BlkQueue> blk_;
    std::vector<frontend::RegionMessage> regions_;
    frontend::Negotiated negotiated_;
    uint64_t acked_features_ = 0;
};

}  // namespace xenvhost::grantfe
