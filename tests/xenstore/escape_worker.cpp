// xenvhost-worker-escape: the worker with a compromised-worker hook, built
// for the tests only (the production binary has no hook). When
// XENVHOST_ESCAPE_DOMID names its guest (or is "any"), it tries, once deprivileged, what
// code taking over a worker through its guest's rings would try, and logs
// one line per attempt: "escape: WHAT: refused (REASON)" or
// "escape: WHAT: SUCCEEDED". Then it serves its guest as usual.

#include "base/log.hpp"
#include "worker/run.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

using namespace xenvhost;

namespace {

struct Plan {
    bool armed = false;
    pid_t victim_pid = 0;        // another guest's worker
    uint32_t victim_domid = 0;   // that guest
    std::string victim_image;    // that guest's image
    uint16_t tcp_port = 0;       // a listener on the host's 127.0.0.1
    std::string abstract_name;   // a listener on the host's abstract unix namespace
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
    // "any": every guest's worker (the Xen level does not know the domid beforehand).
    if (!mine || !ctx.domid || (std::string_view(mine) != "any" && std::to_string(*ctx.domid) != mine)) return;
    plan.armed = true;
    if (const char* f = std::getenv("XENVHOST_ESCAPE_VICTIM_PIDFILE")) std::ifstream(f) >> plan.victim_pid;
    if (const char* d = std::getenv("XENVHOST_ESCAPE_VICTIM_DOMID")) plan.victim_domid = static_cast<uint32_t>(std::atoi(d));
    if (const char* i = std::getenv("XENVHOST_ESCAPE_VICTIM_IMAGE")) plan.victim_image = i;
    if (const char* t = std::getenv("XENVHOST_ESCAPE_TCP_PORT")) plan.tcp_port = static_cast<uint16_t>(std::atoi(t));
    if (const char* a = std::getenv("XENVHOST_ESCAPE_ABSTRACT")) plan.abstract_name = a;
}

// io_uring runs openat, socket and connect without those system calls, past
// the syscall filter: a ring of the attacker's own, not the worker's
// (whose operations are restricted).
class OwnRing {
public:
    OwnRing() { ok_ = io_uring_queue_init(4, &ring_, 0) == 0; }
    ~OwnRing() {
        if (ok_) io_uring_queue_exit(&ring_);
    }
    bool ok() const { return ok_; }
    // Runs one SQE and returns its result (-errno on failure).
    template <class Prep>
    int run(Prep prep) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (!sqe) return -ENOSPC;
        prep(sqe);
        if (int rc = io_uring_submit_and_wait(&ring_, 1); rc < 0) return rc;
        io_uring_cqe* cqe = nullptr;
        if (int rc = io_uring_wait_cqe(&ring_, &cqe); rc < 0) return rc;
        int res = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        return res;
    }

private:
    io_uring ring_{};
    bool ok_ = false;
};

void report_result(const char* what, int res) {
    if (res < 0) errno = -res;
    report(what, res >= 0);
}

// A socket made and connected through the ring; the result of the connect.
int ring_connect(OwnRing& ring, int domain, const sockaddr* addr, socklen_t len) {
    int fd = ring.run([&](io_uring_sqe* s) { io_uring_prep_socket(s, domain, SOCK_STREAM | SOCK_CLOEXEC, 0, 0); });
    if (fd < 0) return fd;
    int res = ring.run([&](io_uring_sqe* s) { io_uring_prep_connect(s, fd, addr, len); });
    ::close(fd);
    return res;
}

void attack_through_io_uring() {
    OwnRing ring;
    if (!ring.ok()) return report("create an io_uring of its own", false);
    log::info("escape: created an io_uring of its own (allowed: the data path needs io_uring_setup)");
    report_result("open another guest's image through io_uring", ring.run([](io_uring_sqe* s) {
        io_uring_prep_openat(s, AT_FDCWD, plan.victim_image.c_str(), O_RDONLY | O_CLOEXEC, 0);
    }));
    report_result("open /dev/xen/privcmd through io_uring", ring.run([](io_uring_sqe* s) {
        io_uring_prep_openat(s, AT_FDCWD, "/dev/xen/privcmd", O_RDWR | O_CLOEXEC, 0);
    }));
    if (plan.tcp_port) {
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_port = htons(plan.tcp_port);
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        report_result("connect to the host's loopback through io_uring",
                      ring_connect(ring, AF_INET, reinterpret_cast<const sockaddr*>(&in), sizeof in));
    }
    if (!plan.abstract_name.empty()) {
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        // Abstract: a leading NUL, then the name (not NUL-terminated).
        size_t n = std::min(plan.abstract_name.size(), sizeof un.sun_path - 1);
        std::memcpy(un.sun_path + 1, plan.abstract_name.data(), n);
        report_result("connect to an abstract unix socket through io_uring",
                      ring_connect(ring, AF_UNIX, reinterpret_cast<const sockaddr*>(&un),
                                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n)));
    }
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
    attack_through_io_uring();
    char sh[] = "/bin/sh";
    char* argv[] = {sh, nullptr};
    report("exec a shell", ::execv(sh, argv) == 0);
    log::info("escape: done");
}

}  // namespace

int main(int argc, char** argv) { return worker::run(argc, argv, {learn, attack}); }
