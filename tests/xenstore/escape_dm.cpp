// xenvhost-dm-escape: the device model with a compromised-device-model hook,
// built for the tests only (the production binary has no hook). When
// XENVHOST_ESCAPE_DOMID names its guest, it tries, once deprivileged, what
// code taking over a device model through its guest's accesses would try,
// and logs one line per attempt: "escape: WHAT: refused (REASON)" or
// "escape: WHAT: SUCCEEDED". Then it serves its guest as usual.

#include "base/log.hpp"
#include "device_model/run.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

using namespace xenvhost;

namespace {

struct Plan {
    bool armed = false;
    pid_t victim_pid = 0;        // another guest's worker
    std::string victim_socket;   // that guest's vhost-user socket
    std::string control_socket;  // this guest's worker's control socket
};
Plan plan;

void report(const char* what, bool succeeded) {
    if (succeeded) log::error("escape: {}: SUCCEEDED", what);
    else log::warn("escape: {}: refused ({})", what, std::strerror(errno));
}

void try_open(const char* what, const std::string& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    report(what, fd >= 0);
    if (fd >= 0) ::close(fd);
}

void try_connect(const char* what, const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return report(what, false);
    report(what, ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
}

// Before the drop: what the test tells the hook about the other guest.
void learn(const device_model::HookContext& ctx) {
    const char* mine = std::getenv("XENVHOST_ESCAPE_DOMID");
    if (!mine || std::to_string(ctx.options.domid) != mine) return;
    plan.armed = true;
    if (const char* f = std::getenv("XENVHOST_ESCAPE_VICTIM_PIDFILE")) std::ifstream(f) >> plan.victim_pid;
    if (const char* s = std::getenv("XENVHOST_ESCAPE_VICTIM_SOCKET")) plan.victim_socket = s;
    if (const char* c = std::getenv("XENVHOST_ESCAPE_CONTROL_SOCKET")) plan.control_socket = c;
}

void attack(const device_model::HookContext& ctx) {
    if (!plan.armed) return;
    log::info("escape: deprivileged device model of dom{} trying its way out (victim: worker pid {})",
              ctx.options.domid, plan.victim_pid);
    try_open("open /dev/xen/privcmd", "/dev/xen/privcmd", O_RDWR);
    try_open("open /dev/xen/gntdev", "/dev/xen/gntdev", O_RDWR);
    try_connect("connect to another guest's socket", plan.victim_socket);
    try_connect("connect to its worker's control socket", plan.control_socket);
    report("signal another guest's worker", plan.victim_pid > 0 && ::kill(plan.victim_pid, SIGKILL) == 0);
    report("ptrace another guest's worker", ::ptrace(PTRACE_ATTACH, plan.victim_pid, nullptr, nullptr) == 0);
    int inet = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    report("create a network socket", inet >= 0);
    if (inet >= 0) ::close(inet);
    const pid_t child = static_cast<pid_t>(::fork());
    if (child == 0) ::_exit(0);
    report("fork", child > 0);
    char sh[] = "/bin/sh";
    char* argv[] = {sh, nullptr};
    report("exec a shell", ::execv(sh, argv) == 0);
    log::info("escape: done");
}

}  // namespace

int main(int argc, char** argv) { return device_model::run(argc, argv, {learn, attack}); }
