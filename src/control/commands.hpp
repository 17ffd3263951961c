#pragma once
// The commands a supervisor sends on a control channel, as values, with
// their one-line text form (control/protocol.hpp has the grammar).

#include "base/error.hpp"
#include "control/device_spec.hpp"

#include <string>
#include <string_view>
#include <variant>

namespace xenvhost::control {

struct AddCommand {
    DeviceSpec spec;
    // The line carries the image (then the listening socket) as fds
    // (control/fd_passing.hpp); format_command sets them from the spec's fds.
    bool passes_blk_fd = false;
    bool passes_socket_fd = false;
};
struct RemoveCommand {
    std::string name;
};
struct StatusCommand {};
struct PingCommand {};
using Command = std::variant<AddCommand, RemoveCommand, StatusCommand, PingCommand>;

Result<Command> parse_command(std::string_view line);

// One overload per command, so callers never build a variant temporary
// (GCC 12 warns falsely about those under -O2 with sanitizers).
std::string format_command(const AddCommand& a);
std::string format_command(const RemoveCommand& r);
std::string format_command(const StatusCommand&);
std::string format_command(const PingCommand&);
std::string format_command(const Command& cmd);

}  // namespace xenvhost::control
