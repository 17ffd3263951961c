// Workers left by a killed xenvhostd that do not answer (control socket gone,
// the process stopped so that SIGTERM stays pending) are replaced side by
// side: the next daemon awaits their ends on its loop, one grace each running
// together, instead of one after the other (issue #16).

#include "tests/xenstore/fixture.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>

namespace xenvhost::xstest {
namespace {

TEST_F(XenstoreLevel, StaleWorkersReplacedSideBySide) {
    constexpr unsigned kGuests = 8, kFirst = 300;
    std::string img = image("stale.img", 1 << 20);
    start_daemon({"--log-level", "warn"});
    std::vector<pid_t> old;
    for (unsigned d = kFirst; d < kFirst + kGuests; ++d) {
        XS_ASSERT_OK(env->create_domain(d, fmt::format("s{}", d)));
        XS_ASSERT_OK(env->write_tree(disk(d, kXvda, img)));
    }
    for (unsigned d = kFirst; d < kFirst + kGuests; ++d) {
        ASSERT_TRUE(wait_state(be("virtio_disk", d, kXvda), "2")) << "dom" << d;
        old.push_back(worker_pid(be("virtio_disk", d, kXvda)));
    }
    stop_daemon(SIGKILL);
    for (unsigned i = 0; i < kGuests; ++i) {
        ASSERT_TRUE(pid_alive(old[i]));
        ::unlink(fmt::format("{}/dom{}/control", env->run_dir(), kFirst + i).c_str());
        ASSERT_EQ(::kill(old[i], SIGSTOP), 0);
    }

    const auto t0 = Clock::now();
    start_daemon({"--log-level", "warn"});
    for (unsigned i = 0; i < kGuests; ++i) {
        const std::string dir = be("virtio_disk", kFirst + i, kXvda);
        ASSERT_TRUE(env->wait_until(dir, [&] {
            pid_t p = worker_pid(dir);
            return p > 0 && p != old[i] && pid_alive(p);
        }, 30000)) << "dom" << kFirst + i << " not served by a new worker";
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::printf("FIGURES %u stale workers ignoring SIGTERM: all replaced %.0f ms after the daemon started\n", kGuests,
                ms);
    // One 3 s grace for all of them; one after the other took 2 s each.
    EXPECT_LT(ms, 7000) << "stale workers were replaced one after another";
    for (pid_t p : old) EXPECT_FALSE(pid_alive(p)) << "stale worker " << p << " still there";
    expect_io(socket("virtio_disk", kFirst, kXvda), img, 8);
}

}  // namespace
}  // namespace xenvhost::xstest
