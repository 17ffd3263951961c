#pragma once
// Test harness for the xenstore level: a private xenstored (the real C
// xenstored 4.17 behind the fakexen.so shim) in a temporary directory, guest
// domains introduced and killed through the shim, device trees written the
// way libxl writes them (from the fixtures in xenstore/examples), and
// xenvhostd started and stopped by its pid.

#include "base/error.hpp"
#include "xen/xenstore.hpp"

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xenvhost::xstest {

using Clock = std::chrono::steady_clock;
using Vars = std::map<std::string, std::string>;

// Guests' workers run as this plus their domid (xenvhostd's uid range) when
// the tests run as root; nothing on the machine owns these ids.
inline constexpr unsigned kTestUidRangeBase = 3900000000u;

// A child process with its output in a log file; killed and reaped on destruction.
class Process {
public:
    static Result<std::unique_ptr<Process>> spawn(const std::vector<std::string>& argv, const std::string& log_path,
                                                  const std::vector<std::string>& env = {});
    ~Process();
    pid_t pid() const { return pid_; }
    bool alive();
    // SIGTERM (or `sig`), then SIGKILL after grace_ms; returns the wait status.
    int stop(int sig = 15, int grace_ms = 5000);
    // Waits up to timeout_ms for the process to exit by itself.
    std::optional<int> wait_exit(int timeout_ms);
    std::string log() const;

private:
    pid_t pid_ = -1;
    bool exited_ = false;
    int status_ = 0;
    std::string log_path_;
};

// A device tree as libxl writes it: one section per directory, each with its
// permissions and keys, written in one transaction.
struct TreeSection {
    std::string path;
    std::vector<std::string> perms;  // "n0", "r5", ...
    std::vector<std::pair<std::string, std::string>> keys;
};
struct Tree {
    std::vector<TreeSection> sections;
    TreeSection* find(std::string_view path_part);
    // Sets (or with nullopt removes) a key of the section whose path contains `path_part`.
    void set(std::string_view path_part, const std::string& key, std::optional<std::string> value);
};
// Loads xenstore/examples/<name> with ${VAR} replaced from `vars`.
Result<Tree> load_tree(const std::string& name, const Vars& vars);

class XenstoreEnv {
public:
    // Starts xenstored in a new temporary directory and points XENSTORED_PATH at it.
    static Result<std::unique_ptr<XenstoreEnv>> start();
    ~XenstoreEnv();

    const std::string& dir() const { return dir_; }
    std::string run_dir() const { return dir_ + "/xenvhost"; }
    const xen::Xenstore& xs() const { return *xs_; }

    // What libxl does for a new domain before its devices: /local/domain/D
    // (n0 rD) with name and domid, then XS_INTRODUCE.
    Result<> create_domain(unsigned domid, const std::string& name);
    // Domain destruction as xenstored sees it: the hypervisor reports the
    // domain gone and VIRQ_DOM_EXC fires; xenstored then fires @releaseDomain.
    Result<> kill_domain(unsigned domid);
    // Writes a tree in one transaction (rm + mkdir + perms + keys per section).
    Result<> write_tree(const Tree& tree);
    // libxl's teardown of a backend: online=0 and state=5 in one transaction.
    Result<> close_backend(const std::string& backend_dir);

    std::optional<std::string> read(const std::string& path) const;
    // Waits (through a watch, no polling) until `path` reads `value`.
    bool wait_value(const std::string& path, const std::string& value, int timeout_ms) const;
    // Waits until `pred` holds, re-checking on any change under `watch_path`.
    bool wait_until(const std::string& watch_path, const std::function<bool()>& pred, int timeout_ms) const;
    // Waits for a file to appear (exists=true) or disappear.
    static bool wait_file(const std::string& path, bool exists, int timeout_ms);

    std::string xenstored_log() const { return xenstored_->log(); }
    pid_t xenstored_pid() const { return xenstored_->pid(); }
    // Kills xenstored (the handle of this env is unusable afterwards).
    void kill_xenstored() { xenstored_->stop(9, 0); }
    // Kills xenstored if it runs and starts a fresh, empty one on the same
    // socket (what dom0 holds after a xenstored restart without its state);
    // the handle of this env is connected to the new one.
    Result<> restart_xenstored();

private:
    Result<> launch_xenstored();
    std::string dir_;
    std::unique_ptr<Process> xenstored_;
    std::unique_ptr<xen::Xenstore> xs_;
};

// xenvhostd on the env's xenstored, with its run dir inside the env's directory.
class DaemonProcess {
public:
    // `extra_env` ("NAME=value") is added to the daemon's environment; its
    // workers and device models inherit it.
    static Result<std::unique_ptr<DaemonProcess>> start(const XenstoreEnv& env,
                                                        const std::vector<std::string>& extra_args = {},
                                                        const std::vector<std::string>& extra_env = {});
    Process& process() { return *process_; }
    pid_t pid() const { return process_->pid(); }
    std::string log() const { return process_->log(); }
    // Resident set size from /proc/<pid>/status, in KiB.
    long rss_kib() const;
    // User + system CPU time used so far, in ms.
    double cpu_ms() const;

private:
    std::unique_ptr<Process> process_;
};

std::string build_bin(const std::string& program);
std::string source_dir();
bool pid_alive(pid_t pid);
// A "Vm...:" line of /proc/<pid>/status (VmRSS, VmHWM), in KiB; -1 if absent.
long proc_status_kib(pid_t pid, std::string_view field);
// Creates an image file of `size` bytes filled with a pattern.
Result<> make_image(const std::string& path, uint64_t size, uint8_t seed);

}  // namespace xenvhost::xstest
