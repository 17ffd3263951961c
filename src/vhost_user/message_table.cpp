#include "vhost_user/message_table.hpp"

#include <array>

namespace xenvhost::vhost_user {
namespace {

using enum SizeRule;
using enum ReplyKind;

constexpr uint32_t kU64 = 8;
constexpr uint32_t kState = sizeof(VringState);

// Indexed by request id. fds: SET_MEM_TABLE one per region (1..8);
// kick/call/err one or none (bit 8 of the payload says which).
constexpr std::array<MessageSpec, kMaxRequest + 1> kTable = {{
    {0, "NONE", kExact, 0, 0, 0, 0, kNone},
    {1, "GET_FEATURES", kExact, 0, 0, 0, 0, kAlways},
    {2, "SET_FEATURES", kExact, kU64, 0, 0, 0, kNone},
    {3, "SET_OWNER", kExact, 0, 0, 0, 0, kNone},
    {4, "RESET_OWNER", kRange, 0, kU64, 0, 0, kNone},
    {5, "SET_MEM_TABLE", kMemTable, 0, 0, 1, kMaxFds, kNone},
    {6, "SET_LOG_BASE", kExact, sizeof(Log), 0, 1, 1, kAlways},
    {7, "SET_LOG_FD", kExact, 0, 0, 1, 1, kNone},
    {8, "SET_VRING_NUM", kExact, kState, 0, 0, 0, kNone},
    {9, "SET_VRING_ADDR", kExact, sizeof(VringAddr), 0, 0, 0, kNone},
    {10, "SET_VRING_BASE", kExact, kState, 0, 0, 0, kNone},
    {11, "GET_VRING_BASE", kExact, kState, 0, 0, 0, kAlways},
    {12, "SET_VRING_KICK", kExact, kU64, 0, 0, 1, kNone},
    {13, "SET_VRING_CALL", kExact, kU64, 0, 0, 1, kNone},
    {14, "SET_VRING_ERR", kExact, kU64, 0, 0, 1, kNone},
    {15, "GET_PROTOCOL_FEATURES", kExact, 0, 0, 0, 0, kAlways},
    {16, "SET_PROTOCOL_FEATURES", kExact, kU64, 0, 0, 0, kNone},
    {17, "GET_QUEUE_NUM", kExact, 0, 0, 0, 0, kAlways},
    {18, "SET_VRING_ENABLE", kExact, kState, 0, 0, 0, kNone},
    {19, "SEND_RARP", kExact, kU64, 0, 0, 0, kNone},
    {20, "NET_SET_MTU", kExact, kU64, 0, 0, 0, kNone},
    {21, "SET_BACKEND_REQ_FD", kExact, 0, 0, 1, 1, kNone},
    {22, "IOTLB_MSG", kExact, sizeof(IotlbMsg), 0, 0, 0, kAlways},
    {23, "SET_VRING_ENDIAN", kExact, kState, 0, 0, 0, kNone},
    {24, "GET_CONFIG", kConfig, 0, 0, 0, 0, kAlways},
    {25, "SET_CONFIG", kConfig, 0, 0, 0, 0, kNone},
    {26, "CREATE_CRYPTO_SESSION", kRange, 0, kMaxPayload, 0, 0, kAlways},
    {27, "CLOSE_CRYPTO_SESSION", kExact, kU64, 0, 0, 0, kNone},
    {28, "POSTCOPY_ADVISE", kExact, 0, 0, 0, 0, kAlways},
    {29, "POSTCOPY_LISTEN", kExact, 0, 0, 0, 0, kAlways},
    {30, "POSTCOPY_END", kExact, 0, 0, 0, 0, kAlways},
    {31, "GET_INFLIGHT_FD", kExact, sizeof(Inflight), 0, 0, 0, kAlways},
    {32, "SET_INFLIGHT_FD", kExact, sizeof(Inflight), 0, 1, 1, kNone},
    {33, "GPU_SET_SOCKET", kExact, 0, 0, 1, 1, kNone},
    {34, "RESET_DEVICE", kExact, 0, 0, 0, 0, kNone},
    {35, "VRING_KICK", kExact, kState, 0, 0, 0, kNone},
    {36, "GET_MAX_MEM_SLOTS", kExact, 0, 0, 0, 0, kAlways},
    {37, "ADD_MEM_REG", kSingleRegion, 0, 0, 1, 1, kNone},
    // REM_MEM_REG should carry no fd; one is tolerated (and closed), as the spec allows.
    {38, "REM_MEM_REG", kSingleRegion, 0, 0, 0, 1, kNone},
    {39, "SET_STATUS", kExact, kU64, 0, 0, 0, kNone},
    {40, "GET_STATUS", kExact, 0, 0, 0, 0, kAlways},
    {41, "GET_SHARED_OBJECT", kExact, sizeof(Shared), 0, 0, 0, kAlways},
    {42, "SET_DEVICE_STATE_FD", kExact, sizeof(DeviceStateTransfer), 0, 1, 1, kAlways},
    {43, "CHECK_DEVICE_STATE", kExact, 0, 0, 0, 0, kAlways},
    {44, "GET_SHMEM_CONFIG", kExact, 0, 0, 0, 0, kAlways},
}};

constexpr bool table_is_indexed() {
    for (uint32_t i = 0; i < kTable.size(); ++i)
        if (kTable[i].id != i) return false;
    return true;
}
static_assert(table_is_indexed(), "message table must be indexed by request id");

bool size_ok(const MessageSpec& s, uint32_t size) {
    switch (s.rule) {
        case kExact: return size == s.a;
        case kRange: return size >= s.a && size <= s.b;
        case kMemTable:
            return size >= sizeof(MemoryTableHeader) &&
                   ((size - 8) % sizeof(MemoryRegion) == 0 || (size - 8) % sizeof(XenMemoryRegion) == 0);
        case kSingleRegion:
            return size == kSingleRegionPadding + sizeof(MemoryRegion) ||
                   size == kSingleRegionPadding + sizeof(XenMemoryRegion);
        case kConfig: return size >= sizeof(ConfigHeader) && size <= sizeof(ConfigHeader) + kMaxConfigSize;
    }
    return false;
}

}  // namespace

std::string_view request_name(uint32_t id) {
    return id < kTable.size() ? kTable[id].name : std::string_view("UNKNOWN");
}

const MessageSpec* find_spec(uint32_t id) {
    if (id == 0 || id >= kTable.size()) return nullptr;
    return &kTable[id];
}

Result<const MessageSpec*> validate(const Header& hdr, size_t nfds) {
    const MessageSpec* spec = find_spec(hdr.request);
    if (!spec) return fail_as(ErrorKind::kProtocol, "unknown request id {}", hdr.request);
    if ((hdr.flags & kVersionMask) != kVersion)
        return fail_as(ErrorKind::kProtocol, "{}: protocol version {} (want 1)", spec->name, hdr.flags & kVersionMask);
    if (hdr.flags & ~kKnownFlags) return fail_as(ErrorKind::kProtocol, "{}: reserved flag bits {:#x}", spec->name, hdr.flags);
    if (hdr.flags & kFlagReply) return fail_as(ErrorKind::kProtocol, "{}: reply flag set on a request", spec->name);
    if (hdr.size > kMaxPayload) return fail_as(ErrorKind::kProtocol, "{}: payload size {} too large", spec->name, hdr.size);
    if (!size_ok(*spec, hdr.size)) return fail_as(ErrorKind::kProtocol, "{}: bad payload size {}", spec->name, hdr.size);
    if (nfds < spec->min_fds || nfds > spec->max_fds)
        return fail_as(ErrorKind::kProtocol, "{}: {} fds attached, {}..{} allowed", spec->name, nfds, spec->min_fds, spec->max_fds);
    return spec;
}

}  // namespace xenvhost::vhost_user
