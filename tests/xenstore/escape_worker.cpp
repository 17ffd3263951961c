// xenvhost-worker-escape: the worker with a compromised-worker hook, built
// for the tests only (the production binary has no hook). When
// XENVHOST_ESCAPE_DOMID names its guest, it tries, once deprivileged, what
// code taking over a worker through its guest's rings would try, and logs
// one line per attempt: "escape: WHAT: refused (REASON)" or
// "escape: WHAT: SUCCEEDED". Then it serves its guest as usual.

#include "base/log.hpp"
#include "worker/run.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

using namespace xenvhost;

namespace {

struct Plan {
    bool armed = false;
    pid_t victim_pid = 0;        // another guest's worker
    uint32_t victim_domid = 0;   // that guest
    std::string victim_image;    // that guest's image
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

// Before the drop: what the test tells the hook about the other guest.
void learn(const worker::HookContext& ctx) {
    const char* mine = std::getenv("XENVHOST_ESCAPE_DOMID");
    if (!mine || !ctx.domid || std::to_string(*ctx.domid) != mine) return;
    plan.armed = true;
    if (const char* f = std::getenv("XENVHOST_ESCAPE_VICTIM_PIDFILE")) std::ifstream(f) >> plan.victim_pid;
    if (const char* d = std::getenv("XENVHOST_ESCAPE_VICTIM_DOMID")) plan.victim_domid = static_cast<uint32_t>(std::atoi(d));
    if (const char* i = std::getenv("XENVHOST_ESCAPE_VICTIM_IMAGE")) plan.victim_image = i;
}

void attack(const worker::HookContext& ctx) {
    if (!plan.armed) return;
    log::info("escape: deprivileged worker of dom{} trying its way out (victim: worker pid {}, dom{})", *ctx.domid,
              plan.victim_pid, plan.victim_domid);
    try_open("open /dev/xen/privcmd", "/dev/xen/privcmd", O_RDWR);
    try_open("open /dev/xen/gntdev", "/dev/xen/gntdev", O_RDWR);
    try_open("open another guest's image", plan.victim_image, O_RDONLY);
    if (ctx.handles.foreign) {
        uint64_t frame = 0;
        int err = 0;
        auto m = ctx.handles.foreign->map(plan.victim_domid, {&frame, 1}, false, {&err, 1});
        if (!m) errno = m.error().err ? m.error().err : EPERM;
        report("map another domain's frame with its own privcmd handle", m.has_value());
    } else {
        log::info("escape: map another domain's frame: no privcmd handle here (no hypervisor)");
    }
    report("signal another guest's worker", plan.victim_pid > 0 && ::kill(plan.victim_pid, SIGKILL) == 0);
    report("ptrace another guest's worker", ::ptrace(PTRACE_ATTACH, plan.victim_pid, nullptr, nullptr) == 0);
    int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    report("create a socket", sock >= 0);
    if (sock >= 0) ::close(sock);
    char sh[] = "/bin/sh";
    char* argv[] = {sh, nullptr};
    report("exec a shell", ::execv(sh, argv) == 0);
    log::info("escape: done");
}

}  // namespace

int main(int argc, char** argv) { return worker::run(argc, argv, {learn, attack}); }
