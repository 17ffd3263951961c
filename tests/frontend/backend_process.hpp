#pragma once
// Starts a vhost-user-blk back-end process (the worker, or qemu-storage-daemon
// as the reference back-end) on a unix socket in a private directory, waits
// until it listens, and stops it by its pid. stdout and stderr go to a log
// file whose lines tests print when they fail.

#include "base/error.hpp"

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace xenvhost::frontend {

enum class BackendKind { kWorker, kQsd };

const char* backend_name(BackendKind kind);

struct BackendOptions {
    BackendKind kind = BackendKind::kWorker;
    std::string program;      // worker binary, or qemu-storage-daemon
    std::string socket_path;
    std::string image_path;
    std::string log_path;
    bool read_only = false;
    uint16_t num_queues = 1;
    uint16_t queue_size = 0;  // worker --queue-size; 0 leaves the default
    std::string serial;       // worker --serial
    std::string qsd_blockdev_options;  // appended to qsd's --blockdev, e.g. "aio=io_uring"
    std::vector<std::string> extra_args;
};

// Number of entries in /proc/<pid>/fd: the fds process `pid` holds open.
Result<int> count_open_fds(pid_t pid);

class BackendProcess {
public:
    BackendProcess() = default;
    BackendProcess(const BackendProcess&) = delete;
    BackendProcess& operator=(const BackendProcess&) = delete;
    ~BackendProcess();

    // Spawns the back-end and waits (up to `timeout_ms`) for its socket.
    static Result<std::unique_ptr<BackendProcess>> start(const BackendOptions& opts,
                                                         int timeout_ms = 20000);

    pid_t pid() const { return pid_; }
    const BackendOptions& options() const { return opts_; }
    // Whether the process is still running (reaps it if it exited).
    bool alive();
    // Exit status as from waitpid, once it exited.
    int wait_status() const { return status_; }
    // Number of entries in /proc/<pid>/fd.
    Result<int> fd_count() const;
    // Polls fd_count() until it equals `expected` (true) or the time is up.
    bool wait_fd_count(int expected, int timeout_ms, int* last = nullptr) const;
    // SIGKILL at once (a crash, as far as the front-end can tell).
    Result<int> kill_now();
    // SIGTERM, then SIGKILL after `grace_ms`; returns the waitpid status.
    Result<int> stop(int grace_ms = 5000);
    // The log so far (last `max_bytes`).
    std::string log_tail(size_t max_bytes = 8192) const;

    std::vector<std::string> command_line() const;

private:
    BackendOptions opts_;
    pid_t pid_ = -1;
    int status_ = -1;
    bool exited_ = false;
};

// What a status from waitpid means, for messages.
std::string describe_wait_status(int status);

}  // namespace xenvhost::frontend
