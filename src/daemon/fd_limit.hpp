#pragma once
// The daemon holds a few fds per guest (its worker's pidfd, control socket
// and timer; its device model's pidfd, report pipe and timer), so a dense
// host needs more than a service manager's usual soft limit of 1024.

namespace xenvhost::daemon {

// Raises the soft RLIMIT_NOFILE to the hard limit; logs what it did.
void raise_fd_limit();

}  // namespace xenvhost::daemon
