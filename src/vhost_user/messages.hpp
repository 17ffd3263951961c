#pragma once
// vhost-user wire layouts and ids (native byte order, little-endian on the
// supported hosts). Layouts follow the QEMU vhost-user specification; the Xen
// region extension (XEN_MMAP, protocol feature 17) appends flags and a domid.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace xenvhost::vhost_user {

// ------------------------------------------------------------------ header

struct Header {
    uint32_t request;
    uint32_t flags;
    uint32_t size;  // payload bytes that follow
};
static_assert(sizeof(Header) == 12);

inline constexpr uint32_t kVersion = 0x1;
inline constexpr uint32_t kVersionMask = 0x3;
inline constexpr uint32_t kFlagReply = 0x4;
inline constexpr uint32_t kFlagNeedReply = 0x8;
inline constexpr uint32_t kKnownFlags = kVersionMask | kFlagReply | kFlagNeedReply;
// QEMU rejects a reply whose flags are anything but exactly this.
inline constexpr uint32_t kReplyFlags = kVersion | kFlagReply;

inline constexpr uint32_t kMaxPayload = 0x1000;

// A u64 reply: 0 is success, anything else a failure.
inline constexpr uint64_t kReplyOk = 0;
inline constexpr uint64_t kReplyFailed = 1;
// SET_DEVICE_STATE_FD's reply: bit 8 says no fd comes with it.
inline constexpr uint64_t kDeviceStateNoFd = 0x100;
inline constexpr size_t kMaxFds = 8;  // per message, as QEMU sends them

// ------------------------------------------------------------------ ids

enum class Request : uint32_t {
    kNone = 0,
    kGetFeatures = 1,
    kSetFeatures = 2,
    kSetOwner = 3,
    kResetOwner = 4,
    kSetMemTable = 5,
    kSetLogBase = 6,
    kSetLogFd = 7,
    kSetVringNum = 8,
    kSetVringAddr = 9,
    kSetVringBase = 10,
    kGetVringBase = 11,
    kSetVringKick = 12,
    kSetVringCall = 13,
    kSetVringErr = 14,
    kGetProtocolFeatures = 15,
    kSetProtocolFeatures = 16,
    kGetQueueNum = 17,
    kSetVringEnable = 18,
    kSendRarp = 19,
    kNetSetMtu = 20,
    kSetBackendReqFd = 21,
    kIotlbMsg = 22,
    kSetVringEndian = 23,
    kGetConfig = 24,
    kSetConfig = 25,
    kCreateCryptoSession = 26,
    kCloseCryptoSession = 27,
    kPostcopyAdvise = 28,
    kPostcopyListen = 29,
    kPostcopyEnd = 30,
    kGetInflightFd = 31,
    kSetInflightFd = 32,
    kGpuSetSocket = 33,
    kResetDevice = 34,
    kVringKick = 35,
    kGetMaxMemSlots = 36,
    kAddMemReg = 37,
    kRemMemReg = 38,
    kSetStatus = 39,
    kGetStatus = 40,
    kGetSharedObject = 41,
    kSetDeviceStateFd = 42,
    kCheckDeviceState = 43,
    kGetShmemConfig = 44,
};
inline constexpr uint32_t kMaxRequest = 44;

// Back-end → front-end requests (on the SET_BACKEND_REQ_FD channel).
enum class BackendRequest : uint32_t {
    kIotlbMsg = 1,
    kConfigChangeMsg = 2,
    kVringHostNotifierMsg = 3,
    kVringCall = 4,
    kVringErr = 5,
    kSharedObjectAdd = 6,
    kSharedObjectRemove = 7,
    kSharedObjectLookup = 8,
    kShmemMap = 9,
    kShmemUnmap = 10,
};

std::string_view request_name(uint32_t id);

// ------------------------------------------------------------------ feature bits

inline constexpr unsigned kFeatureProtocolFeatures = 30;  // virtio feature word bit

namespace protocol_feature {
inline constexpr unsigned kMq = 0;
inline constexpr unsigned kLogShmfd = 1;
inline constexpr unsigned kRarp = 2;
inline constexpr unsigned kReplyAck = 3;
inline constexpr unsigned kNetMtu = 4;
inline constexpr unsigned kBackendReq = 5;
inline constexpr unsigned kCrossEndian = 6;
inline constexpr unsigned kCryptoSession = 7;
inline constexpr unsigned kPagefault = 8;
inline constexpr unsigned kConfig = 9;
inline constexpr unsigned kBackendSendFd = 10;
inline constexpr unsigned kHostNotifier = 11;
inline constexpr unsigned kInflightShmfd = 12;
inline constexpr unsigned kResetDevice = 13;
inline constexpr unsigned kInbandNotifications = 14;
inline constexpr unsigned kConfigureMemSlots = 15;
inline constexpr unsigned kStatus = 16;
inline constexpr unsigned kXenMmap = 17;
inline constexpr unsigned kSharedObject = 18;
inline constexpr unsigned kDeviceState = 19;
inline constexpr unsigned kGetVringBaseInflight = 20;
inline constexpr unsigned kGpaAddresses = 21;
inline constexpr unsigned kShmem = 22;
}  // namespace protocol_feature

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

// ------------------------------------------------------------------ payloads

struct VringState {
    uint32_t index;
    uint32_t num;
};
static_assert(sizeof(VringState) == 8);

struct VringAddr {
    uint32_t index;
    uint32_t flags;  // bit 0: VHOST_VRING_F_LOG
    uint64_t desc_user_addr;
    uint64_t used_user_addr;
    uint64_t avail_user_addr;
    uint64_t log_guest_addr;
};
static_assert(sizeof(VringAddr) == 40);

// Bits 0-7 of the u64 in SET_VRING_KICK/CALL/ERR: the ring index; bit 8: no fd.
inline constexpr uint64_t kVringIndexMask = 0xff;
inline constexpr uint64_t kVringNoFd = 0x100;

struct MemoryRegion {
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t user_addr;
    uint64_t mmap_offset;
};
static_assert(sizeof(MemoryRegion) == 32);

// With XEN_MMAP negotiated: the same region plus flags and the guest's domid.
struct XenMemoryRegion {
    MemoryRegion base;
    uint32_t xen_mmap_flags;
    uint32_t domid;
};
static_assert(sizeof(XenMemoryRegion) == 40);

namespace xen_mmap_flag {
inline constexpr uint32_t kForeign = 0x1;
inline constexpr uint32_t kGrant = 0x2;
inline constexpr uint32_t kNoAdvanceMapDeployed = 0x8;  // rust-vmm, xen-vhost-frontend
inline constexpr uint32_t kNoAdvanceMapSpec = 0x100;    // the specification text
}  // namespace xen_mmap_flag

struct MemoryTableHeader {
    uint32_t num_regions;
    uint32_t padding;
};
static_assert(sizeof(MemoryTableHeader) == 8);

// ADD_MEM_REG / REM_MEM_REG: u64 padding, then one region (32 or 40 bytes).
inline constexpr uint32_t kSingleRegionPadding = 8;

struct Log {
    uint64_t mmap_size;
    uint64_t mmap_offset;
};
static_assert(sizeof(Log) == 16);

struct IotlbMsg {
    uint64_t iova;
    uint64_t size;
    uint64_t uaddr;
    uint8_t perm;  // 0 none, 1 RO, 2 WO, 3 RW
    uint8_t type;  // 1 miss, 2 update, 3 invalidate, 4 access fail
    uint8_t pad[6];
};
static_assert(sizeof(IotlbMsg) == 32);

namespace iotlb_type {
inline constexpr uint8_t kMiss = 1;
inline constexpr uint8_t kUpdate = 2;
inline constexpr uint8_t kInvalidate = 3;
inline constexpr uint8_t kAccessFail = 4;
}  // namespace iotlb_type

struct ConfigHeader {
    uint32_t offset;
    uint32_t size;
    uint32_t flags;  // 0 writable fields, 1 live migration
};
static_assert(sizeof(ConfigHeader) == 12);
inline constexpr uint32_t kMaxConfigSize = 256;

struct VringArea {
    uint64_t u64;  // bits 0-7 ring index, bit 8 no fd
    uint64_t size;
    uint64_t offset;
};
static_assert(sizeof(VringArea) == 24);

struct Inflight {
    uint64_t mmap_size;
    uint64_t mmap_offset;
    uint16_t num_queues;
    uint16_t queue_size;
    uint8_t pad[4];
};
static_assert(sizeof(Inflight) == 24);

struct Shared {
    uint8_t uuid[16];
};
static_assert(sizeof(Shared) == 16);

struct DeviceStateTransfer {
    uint32_t direction;
    uint32_t phase;
};
static_assert(sizeof(DeviceStateTransfer) == 8);

struct ShmemMap {
    uint8_t shmid;
    uint8_t pad[7];
    uint64_t fd_offset;
    uint64_t shm_offset;
    uint64_t len;
    uint64_t flags;  // bit 0: writable
};
static_assert(sizeof(ShmemMap) == 40);

struct ShmemConfig {
    uint32_t nregions;
    uint32_t padding;
    uint64_t mem_sizes[256];
};
static_assert(sizeof(ShmemConfig) == 2056);

}  // namespace xenvhost::vhost_user
