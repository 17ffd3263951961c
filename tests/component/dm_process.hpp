#pragma once
// xenvhost-dm as the component tests run it: spawned under the Xen double
// with its own environment, its ready report read from a pipe (passed as
// fd 3, --ready-fd 3), stdout and stderr in a log file, stopped or killed by
// its pid with bounded waits. A process still running when this object goes
// is killed and reaped.

#include "base/error.hpp"
#include "base/unique_fd.hpp"

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace xenvhost::component {

struct DmLaunch {
    std::string program;
    std::vector<std::string> args;  // without --ready-fd, which start() adds
    std::vector<std::pair<std::string, std::string>> env;  // set over this process's environment
    std::string log_path;
};

// $XENVHOST_DM, else xenvhost-dm in the build tree's bin directory.
std::string dm_program(const std::string& build_bin);

class DmProcess {
public:
    static Result<std::unique_ptr<DmProcess>> start(const DmLaunch& launch);
    ~DmProcess();
    DmProcess(const DmProcess&) = delete;
    DmProcess& operator=(const DmProcess&) = delete;

    pid_t pid() const { return pid_; }
    // Reads the ready report up to the end the program gives it by closing
    // the fd; fails on a timeout or if the program exited first.
    Result<std::string> ready_report(int timeout_ms = 20000);
    // Whether the program still runs (reaps it once it exited).
    bool alive();
    // SIGTERM and the wait status; SIGKILL (and a failure) after `timeout_ms`.
    Result<int> stop(int timeout_ms = 10000);
    // SIGKILL and the wait status.
    Result<int> kill_now();
    std::string log() const;

private:
    DmProcess() = default;
    Result<int> wait_exit(int timeout_ms);

    pid_t pid_ = -1;
    bool exited_ = false;
    int status_ = -1;
    UniqueFd ready_;
    std::string log_path_;
};

}  // namespace xenvhost::component
