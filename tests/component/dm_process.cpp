#include "dm_process.hpp"

#include "frontend/clock.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

extern char** environ;

namespace xenvhost::component {

namespace {
constexpr int kReadyFd = 3;
}

std::string dm_program(const std::string& build_bin) {
    const char* dm = std::getenv("XENVHOST_DM");
    return dm && *dm ? dm : build_bin + "/xenvhost-dm";
}

Result<std::unique_ptr<DmProcess>> DmProcess::start(const DmLaunch& launch) {
    std::unique_ptr<DmProcess> p(new DmProcess);
    p->log_path_ = launch.log_path;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return fail_errno("pipe");
    UniqueFd read_end(fds[0]), write_end(fds[1]);
    // Above the fds the child gets, so that dup2 to 3 really copies it (and
    // drops close-on-exec) whatever number pipe2 chose.
    UniqueFd child_end(::fcntl(write_end.get(), F_DUPFD_CLOEXEC, 10));
    if (!child_end) return fail_errno("dup");
    write_end.reset();

    std::map<std::string, std::string> vars;
    for (char** e = environ; *e; ++e) {
        std::string s(*e);
        const size_t eq = s.find('=');
        if (eq != std::string::npos) vars[s.substr(0, eq)] = s.substr(eq + 1);
    }
    for (const auto& [k, v] : launch.env) vars[k] = v;
    std::vector<std::string> env;
    for (const auto& [k, v] : vars) env.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);

    std::vector<std::string> args{launch.program};
    args.insert(args.end(), launch.args.begin(), launch.args.end());
    args.insert(args.end(), {"--ready-fd", std::to_string(kReadyFd)});
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, launch.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_adddup2(&fa, child_end.get(), kReadyFd);
    const int rc = ::posix_spawn(&p->pid_, launch.program.c_str(), &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        p->pid_ = -1;
        errno = rc;
        return fail_errno("spawn {}", launch.program);
    }
    p->ready_ = std::move(read_end);
    return p;
}

DmProcess::~DmProcess() {
    if (pid_ > 0 && !exited_) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

Result<std::string> DmProcess::ready_report(int timeout_ms) {
    std::string report;
    const int64_t deadline = frontend::now_ms() + timeout_ms;
    for (;;) {
        const int64_t left = deadline - frontend::now_ms();
        if (left <= 0) return fail("no complete ready report within {} ms (so far '{}')", timeout_ms, report);
        pollfd pfd{ready_.get(), POLLIN, 0};
        const int n = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left, 100)));
        if (n < 0 && errno != EINTR) return fail_errno("poll the ready pipe");
        if (n <= 0) {
            if (!alive()) return fail("xenvhost-dm exited before its ready report (status {:#x})", status_);
            continue;
        }
        char buf[512];
        const ssize_t got = ::read(ready_.get(), buf, sizeof buf);
        if (got < 0 && errno != EINTR) return fail_errno("read the ready pipe");
        if (got == 0) {  // closed: the report is whole, unless the program ended
            if (!report.ends_with("ready\n") && !alive())
                return fail("xenvhost-dm exited (status {:#x}) with the report '{}'", status_, report);
            return report;
        }
        if (got > 0) report.append(buf, static_cast<size_t>(got));
    }
}

bool DmProcess::alive() {
    if (pid_ <= 0 || exited_) return false;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        status_ = status;
    }
    return !exited_;
}

// A pidfd says when the process ends; the wait is bounded by poll's timeout.
Result<int> DmProcess::wait_exit(int timeout_ms) {
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
    const int64_t deadline = frontend::now_ms() + timeout_ms;
    while (alive()) {
        const int64_t left = deadline - frontend::now_ms();
        if (left <= 0) return fail("xenvhost-dm still running after {} ms", timeout_ms);
        pollfd pfd{pidfd.get(), POLLIN, 0};
        // Without pidfds (old kernels) this polls nothing and rechecks every 10 ms.
        ::poll(&pfd, pidfd ? 1 : 0, static_cast<int>(std::min<int64_t>(left, pidfd ? left : 10)));
    }
    return status_;
}

Result<int> DmProcess::stop(int timeout_ms) {
    if (!alive()) return fail("xenvhost-dm was not running at stop (status {:#x})", status_);
    ::kill(pid_, SIGTERM);
    auto st = wait_exit(timeout_ms);
    if (st) return st;
    ::kill(pid_, SIGKILL);
    (void)wait_exit(10000);
    return fail("xenvhost-dm ignored SIGTERM for {} ms and was killed", timeout_ms);
}

Result<int> DmProcess::kill_now() {
    if (!alive()) return fail("xenvhost-dm was not running at kill (status {:#x})", status_);
    ::kill(pid_, SIGKILL);
    return wait_exit(10000);
}

std::string DmProcess::log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace xenvhost::component
