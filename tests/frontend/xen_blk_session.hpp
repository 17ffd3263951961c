#pragma once
// A virtio-blk front-end for a Xen guest, as a Xen device model drives a
// vhost-user back-end with XEN_MMAP:
//   connect():  GET_FEATURES, GET_PROTOCOL_FEATURES (XEN_MMAP must be
//               offered), SET_PROTOCOL_FEATURES {XEN_MMAP, MQ, CONFIG,
//               REPLY_ACK[, CONFIGURE_MEM_SLOTS]}, SET_OWNER, GET_QUEUE_NUM,
//               GET_CONFIG
//   prepare():  SET_FEATURES; guest memory over the double's memory file;
//               rings (granted writable for the session in grant mode);
//               the 40-byte memory table (SET_MEM_TABLE, or ADD_MEM_REG per
//               region)
//   start():    per queue SET_VRING_NUM/BASE/ADDR/KICK/CALL, SET_VRING_ENABLE
//   stop():     SET_VRING_ENABLE 0 and GET_VRING_BASE per queue.
// Grant mode lays memory out as xen-vhost-frontend does (see
// xen_guest_memory.hpp): rings in the first guest region, buffers in the
// second. Foreign mode uses the given RAM ranges.

#include "base/error.hpp"
#include "frontend/guest_memory.hpp"
#include "frontend/negotiation.hpp"
#include "frontend/split_queue.hpp"
#include "frontend/vhost_client.hpp"
#include "frontend/xen_blk_queue.hpp"
#include "frontend/xen_double_files.hpp"
#include "frontend/xen_guest_memory.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace xenvhost::frontend {

enum class XenMapping { kGrant, kForeign };
enum class XenTableMessages { kSetMemTable, kAddMemReg };

struct XenSessionOptions {
    XenMapping mapping = XenMapping::kGrant;
    uint32_t domid = 7;  // the guest's domid, sent in every region
    uint16_t num_queues = 1;
    uint16_t queue_size = 128;
    bool event_idx = true;
    XenTableMessages table = XenTableMessages::kSetMemTable;
    // Grant mode: the flag of the regions that may not be mapped in advance.
    uint32_t no_advance_flag = vhost_user::xen_mmap_flag::kNoAdvanceMapDeployed;
    // Foreign mode: RAM ranges (empty: one range [0, the double's size)).
    std::vector<RegionLayout> foreign_ram;
    // Foreign mode as QEMU's Xen device model sends it (XEN_MMAP implies
    // GPA addresses there): user addresses and ring addresses are guest-physical.
    bool user_addr_is_gpa = false;
    size_t ring_region = 0;    // foreign mode: the RAM range holding the rings
    size_t buffer_region = 0;  // foreign mode: the RAM range holding slot buffers
    XenBlkQueueOptions blk;
    int connect_retry_ms = 5000;
};

class XenBlkSession {
public:
    // `files` must outlive the session.
    static Result<std::unique_ptr<XenBlkSession>> connect(const std::string& socket_path, XenDoubleFiles& files,
                                                          const XenSessionOptions& opts);
    // With send_table false the table is built but not sent (a test sends
    // its own first); start() then goes straight to the rings.
    Result<void> prepare(bool send_table = true);
    Result<void> start();
    Result<std::vector<uint32_t>> stop();

    VhostClient& client() { return *client_; }
    GuestMemory& memory() { return *memory_; }
    SplitQueue& queue(size_t i) { return *queues_.at(i); }
    XenBlkQueue& blk(size_t i = 0) { return *blk_.at(i); }
    XenDoubleFiles& files() { return files_; }
    const XenSessionOptions& options() const { return opts_; }
    uint64_t offered_protocol_features() const { return negotiated_.offered_protocol; }
    uint64_t acked_protocol_features() const { return negotiated_.acked_protocol; }
    uint64_t capacity_sectors() const { return negotiated_.config_as<uint64_t>(); }

    // The memory table prepare() sent (tests resend or alter it).
    const std::vector<RegionMessage>& regions() const { return regions_; }
    // SET_MEM_TABLE, or ADD_MEM_REG per region, as the options say.
    Result<void> send_table(std::span<const RegionMessage> regions);
    // Guest pages of the rings, granted writable for the session in grant mode.
    uint64_t ring_pages() const;

private:
    XenBlkSession(XenDoubleFiles& files, const XenSessionOptions& opts) : files_(files), opts_(opts) {}
    Result<void> make_memory();

    XenDoubleFiles& files_;
    XenSessionOptions opts_;
    std::unique_ptr<VhostClient> client_;
    std::unique_ptr<GuestMemory> memory_;
    std::vector<std::unique_ptr<SplitQueue>> queues_;
    std::vector<std::unique_ptr<XenBlkQueue>> blk_;
    std::vector<XenRingArea> rings_;
    std::vector<RegionMessage> regions_;
    Negotiated negotiated_;
    uint64_t acked_features_ = 0;
    bool prepared_ = false;
};

}  // namespace xenvhost::frontend
