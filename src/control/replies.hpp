#pragma once
// The lines a program sends back on a control channel: replies to commands
// and unsolicited device events, as values with their one-line text form
// (control/protocol.hpp has the grammar).

#include "base/error.hpp"
#include "control/device_status.hpp"

#include <string>
#include <string_view>
#include <variant>

namespace xenvhost::control {

struct OkReply {};
struct ErrorReply {
    std::string reason;
};
struct DeviceLine {
    DeviceStatus status;
};
struct EndReply {};
struct EventLine {
    DeviceStatus status;
};
using Reply = std::variant<OkReply, ErrorReply, DeviceLine, EndReply, EventLine>;

std::string format_reply(const OkReply&);
std::string format_reply(const ErrorReply& e);
std::string format_reply(const DeviceLine& d);
std::string format_reply(const EndReply&);
std::string format_reply(const EventLine& e);
std::string format_reply(const Reply& reply);

Result<Reply> parse_reply(std::string_view line);

}  // namespace xenvhost::control
