#pragma once
// Starting the guests' processes (workers, device models): a clean signal
// state, no inherited fds but the ones handed over, and a pidfd so the exit
// is seen on the event loop.

#include "base/error.hpp"
#include "base/unique_fd.hpp"

#include <sys/types.h>

#include <chrono>

#include <string>
#include <vector>

namespace xenvhost::daemon {

// How long a guest's process has after SIGTERM (to finish its in-flight
// I/O, or take its devices off the guest's bus) before SIGKILL.
inline constexpr std::chrono::milliseconds kStopGrace{3000};

struct Child {
    pid_t pid = -1;
    UniqueFd pidfd;
};

// Runs `path` with `args` (argv[0] is `path`); `pass_fd`, when not -1, is
// given to the child as fd 3.
Result<Child> spawn_child(const std::string& path, const std::vector<std::string>& args, int pass_fd = -1);

int pidfd_open(pid_t pid);
int pidfd_signal(int pidfd, int sig);
std::string describe_exit_status(int status);

}  // namespace xenvhost::daemon
