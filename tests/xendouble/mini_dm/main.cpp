// xendouble-mini-dm: a minimal device model over the real libxen APIs, run
// under LD_PRELOAD=libxendouble.so by the ioreq double's component test
// (see mini_dm.hpp for what it does).

#include "xendouble/mini_dm/mini_dm_server.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s <domid> <vcpus>\n", argv[0]);
        return 2;
    }
    const auto domid = static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 10));
    const auto vcpus = static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10));
    // SIGTERM arrives as a readable fd, so the loop ends between ioreqs.
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, nullptr);
    const int stop_fd = signalfd(-1, &term, SFD_CLOEXEC);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    xenvhost::xendouble::mini_dm::Server server;
    if (stop_fd < 0 || !server.setup(domid, vcpus)) return 1;
    if (!server.serve(stop_fd)) {
        std::printf("serve failed\n");
        return 1;
    }
    const bool ok = server.teardown();
    std::printf("stopped\n");
    return ok ? 0 : 1;
}
