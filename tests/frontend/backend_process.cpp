#include "frontend/backend_process.hpp"

#include "base/unique_fd.hpp"
#include "frontend/clock.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

extern char** environ;

namespace xenvhost::frontend {

const char* backend_name(BackendKind kind) {
    return kind == BackendKind::kWorker ? "xenvhost-worker" : "qemu-storage-daemon";
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
    return fmt::format("wait status {:#x}", status);
}

std::vector<std::string> BackendProcess::command_line() const {
    std::vector<std::string> argv{opts_.program};
    if (opts_.kind == BackendKind::kWorker) {
        argv.insert(argv.end(), {"--socket-path", opts_.socket_path, "--blk-file", opts_.image_path,
                                 "--num-queues", std::to_string(opts_.num_queues)});
        if (opts_.read_only) argv.push_back("--read-only");
        if (opts_.queue_size) argv.insert(argv.end(), {"--queue-size", std::to_string(opts_.queue_size)});
        if (!opts_.serial.empty()) argv.insert(argv.end(), {"--serial", opts_.serial});
    } else {
        argv.insert(argv.end(),
                    {"--blockdev",
                     fmt::format("driver=file,node-name=file0,filename={}{}{}", opts_.image_path,
                                 opts_.qsd_blockdev_options.empty() ? "" : ",",
                                 opts_.qsd_blockdev_options),
                     "--export",
                     fmt::format("type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,"
                                 "addr.path={},writable={},num-queues={}",
                                 opts_.socket_path, opts_.read_only ? "off" : "on",
                                 opts_.num_queues)});
    }
    argv.insert(argv.end(), opts_.extra_args.begin(), opts_.extra_args.end());
    return argv;
}

Result<std::unique_ptr<BackendProcess>> BackendProcess::start(const BackendOptions& opts,
                                                              int timeout_ms) {
    auto p = std::make_unique<BackendProcess>();
    p->opts_ = opts;
    if (::access(opts.program.c_str(), X_OK) != 0)
        return fail_errno("back-end program {}", opts.program);
    ::unlink(opts.socket_path.c_str());

    auto args = p->command_line();
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    // fork + exec rather than posix_spawn: the child asks for SIGTERM when
    // its parent dies, so a test binary that crashes leaves no back-end
    // behind. Only async-signal-safe calls run between fork and exec.
    const pid_t parent = ::getpid();
    UniqueFd log_fd(::open(opts.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!log_fd) return fail_errno("open {}", opts.log_path);
    pid_t pid = ::fork();
    if (pid < 0) return fail_errno("fork");
    if (pid == 0) {
        if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent) ::_exit(127);
        int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(log_fd.get(), 1) < 0 ||
            ::dup2(log_fd.get(), 2) < 0)
            ::_exit(127);
        ::execve(opts.program.c_str(), argv.data(), environ);
        ::_exit(127);
    }
    p->pid_ = pid;

    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        struct stat st{};
        if (::stat(opts.socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return p;
        if (!p->alive())
            return fail("{} exited before listening ({}): {}", backend_name(opts.kind),
                        describe_wait_status(p->status_), p->log_tail(2048));
        if (now_ms() >= deadline)
            return fail("{} did not create {} within {} ms: {}", backend_name(opts.kind),
                        opts.socket_path, timeout_ms, p->log_tail(2048));
        ::usleep(10000);
    }
}

BackendProcess::~BackendProcess() {
    if (pid_ > 0 && !exited_) (void)stop(2000);
}

bool BackendProcess::alive() {
    if (pid_ <= 0 || exited_) return false;
    int status;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        exited_ = true;
        status_ = status;
        return false;
    }
    return true;
}

Result<int> BackendProcess::fd_count() const { return count_open_fds(pid_); }

Result<int> count_open_fds(pid_t pid) {
    std::string path = fmt::format("/proc/{}/fd", pid);
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), ::closedir);
    if (!dir) return fail_errno("opendir {}", path);
    int n = 0;
    while (dirent* e = ::readdir(dir.get()))
        if (e->d_name[0] != '.') ++n;
    return n;
}

bool BackendProcess::wait_fd_count(int expected, int timeout_ms, int* last) const {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        auto n = fd_count();
        if (last) *last = n ? *n : -1;
        if (n && *n == expected) return true;
        if (now_ms() >= deadline) return false;
        ::usleep(20000);
    }
}

Result<int> BackendProcess::stop(int grace_ms) {
    if (pid_ <= 0) return fail("back-end was not started");
    if (exited_) return status_;
    ::kill(pid_, SIGTERM);
    int64_t deadline = now_ms() + grace_ms;
    for (;;) {
        int status;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exited_ = true;
            status_ = status;
            return status;
        }
        if (now_ms() >= deadline) break;
        ::usleep(10000);
    }
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
    status_ = status;
    return fail("{} ignored SIGTERM for {} ms and was killed", backend_name(opts_.kind), grace_ms);
}

Result<int> BackendProcess::kill_now() {
    if (pid_ <= 0) return fail("back-end was not started");
    if (exited_) return status_;
    ::kill(pid_, SIGKILL);
    int status;
    if (::waitpid(pid_, &status, 0) != pid_) return fail_errno("waitpid");
    exited_ = true;
    status_ = status;
    return status;
}

std::string BackendProcess::log_tail(size_t max_bytes) const {
    std::ifstream in(opts_.log_path, std::ios::binary);
    if (!in) return {};
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
    return s;
}

}  // namespace xenvhost::frontend
