#pragma once
// One table drives decoding: for every front-end request id, the payload size
// rule, how many fds it may carry, and whether it always has a reply body.

#include "base/error.hpp"
#include "vhost_user/messages.hpp"

#include <cstdint>
#include <string_view>

namespace xenvhost::vhost_user {

enum class SizeRule : uint8_t {
    kExact,       // size == a
    kRange,       // a <= size <= b
    kMemTable,    // 8 + n*32 or 8 + n*40 (checked against the header by the session)
    kSingleRegion,  // 40 or 48
    kConfig,      // 12 + payload size field, at most 12 + 256
};

enum class ReplyKind : uint8_t {
    kNone,    // only a REPLY_ACK u64 if NEED_REPLY was set
    kAlways,  // always a reply body
};

struct MessageSpec {
    uint32_t id;
    std::string_view name;
    SizeRule rule;
    uint32_t a;
    uint32_t b;
    uint8_t min_fds;
    uint8_t max_fds;
    ReplyKind reply;
};

// The spec of request `id`, or nullptr if the id is unknown.
const MessageSpec* find_spec(uint32_t id);

// Checks a received header and fd count against the table (flags, size, fds).
// Failures are protocol errors that end the connection.
Result<const MessageSpec*> validate(const Header& hdr, size_t nfds);

}  // namespace xenvhost::vhost_user
