#pragma once
// fds that travel with a control line (SCM_RIGHTS): xenvhostd opens a
// device's image and listening socket and hands them over with the "add"
// line, so a deprivileged worker never opens a path itself.

#include "base/error.hpp"
#include "base/unique_fd.hpp"

#include <sys/types.h>

#include <deque>
#include <span>
#include <string_view>

namespace xenvhost::control {

// At most this many fds per line (an add carries two).
inline constexpr size_t kMaxFdsPerLine = 4;

// send() of `data` with `fds` attached to its first byte; returns the bytes
// sent (the fds went with them if it is above 0), or -1 with errno.
ssize_t send_with_fds(int sock, std::string_view data, std::span<const int> fds);

// read() that also takes the fds that came along (close-on-exec) and appends
// them to `fds`, in order. Returns what read() would.
ssize_t receive_with_fds(int sock, char* buf, size_t len, std::deque<UniqueFd>& fds);

}  // namespace xenvhost::control
