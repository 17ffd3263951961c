#pragma once
// systemd readiness notification (Type=notify) without linking libsystemd:
// one datagram to $NOTIFY_SOCKET, nothing when it is unset.

#include <string_view>

namespace xenvhost::daemon {

void sd_notify_message(std::string_view message);

}  // namespace xenvhost::daemon
