#pragma once
// The listening unix socket a vhost-user front-end connects to.

#include "base/error.hpp"
#include "base/unique_fd.hpp"

#include <string>

namespace xenvhost {

// Binds and listens on `path`, replacing a stale socket left by an earlier
// run (but never a file that is not a socket).
Result<UniqueFd> listen_unix(const std::string& path);

// Accepts one connection (close-on-exec); fails with EAGAIN semantics as an error.
Result<UniqueFd> accept_connection(int listen_fd);

}  // namespace xenvhost
