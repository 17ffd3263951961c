// 100 guests with one disk each: the time from the commit of each device
// directory to state 2, as libxl would see it, and the daemon's memory.

#include "tests/xenstore/fixture.hpp"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

namespace xenvhost::xstest {
namespace {

TEST_F(XenstoreLevel, HundredGuests) {
    constexpr unsigned kGuests = 100, kFirst = 10;
    std::string img = image("shared.img", 1 << 20);
    for (unsigned d = kFirst; d < kFirst + kGuests; ++d) XS_ASSERT_OK(env->create_domain(d, fmt::format("g{}", d)));
    start_daemon({"--log-level", "warn"});
    // Let the daemon come up before the clock starts: it answers a malformed
    // directory with an error key once it watches.
    XS_ASSERT_OK(env->xs().write("/local/domain/0/backend/virtio_disk/1/probe/state", "1"));
    ASSERT_TRUE(wait_error("/local/domain/0/backend/virtio_disk/1/probe"));
    XS_ASSERT_OK(env->xs().remove("/local/domain/0/backend/virtio_disk/1"));

    // A thread of its own watches every state node and time-stamps each
    // first "2" as it happens, while this thread writes the devices.
    auto xs = xen::Xenstore::open();
    ASSERT_TRUE(xs.has_value());
    std::vector<Clock::time_point> written(kGuests), ready(kGuests);
    std::vector<bool> done(kGuests, false);
    for (unsigned i = 0; i < kGuests; ++i)
        XS_ASSERT_OK(xs->watch(be("virtio_disk", kFirst + i, kXvda) + "/state", std::to_string(i)));
    auto fd = xs->watch_fd();
    ASSERT_TRUE(fd.has_value());
    std::atomic<unsigned> remaining = kGuests;
    std::atomic<bool> give_up = false;
    std::thread watcher([&] {
        while (remaining > 0 && !give_up) {
            pollfd p{*fd, POLLIN, 0};
            ::poll(&p, 1, 100);
            while (auto ev = xs->next_event()) {
                unsigned i = std::stoul(ev->token);
                if (done[i]) continue;
                if (xs->read(ev->path).value_or(std::nullopt) == "2") {
                    ready[i] = Clock::now();
                    done[i] = true;
                    --remaining;
                }
            }
        }
    });
    for (unsigned i = 0; i < kGuests; ++i) {
        auto tree = disk(kFirst + i, kXvda, img);
        written[i] = Clock::now();
        auto r = env->write_tree(tree);
        EXPECT_TRUE(r.has_value()) << r.error().message;
    }
    auto writes_done = Clock::now();
    auto deadline = Clock::now() + std::chrono::seconds(60);
    while (remaining > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    give_up = true;
    watcher.join();
    ASSERT_EQ(remaining.load(), 0u) << "devices not at state 2 after 60 s";

    std::vector<double> ms;
    for (unsigned i = 0; i < kGuests; ++i)
        ms.push_back(std::chrono::duration<double, std::milli>(ready[i] - written[i]).count());
    auto last_ready = *std::max_element(ready.begin(), ready.end());
    std::printf("100 guests: writing the 100 device trees took %.1f ms; the last device reached state 2 %.1f ms "
                "after the first write\n",
                std::chrono::duration<double, std::milli>(writes_done - written[0]).count(),
                std::chrono::duration<double, std::milli>(last_ready - written[0]).count());
    std::sort(ms.begin(), ms.end());
    double median = (ms[kGuests / 2 - 1] + ms[kGuests / 2]) / 2, max = ms.back();
    long rss = daemon->rss_kib();
    std::printf("100 guests: device dir -> state 2: median %.1f ms, p90 %.1f ms, max %.1f ms; xenvhostd RSS %ld KiB, "
                "CPU %.0f ms so far\n",
                median, ms[kGuests * 9 / 10], max, rss, daemon->cpu_ms());
    RecordProperty("median_ms", static_cast<int>(median));
    RecordProperty("max_ms", static_cast<int>(max));
    RecordProperty("daemon_rss_kib", static_cast<int>(rss));
    // libxl gives up on a disk after 10 s. The median is printed, not
    // asserted: the 100 trees arrive in one burst on a 2-core machine.
    EXPECT_LT(max, 10000) << "libxl would have given up";

    // Every guest has its own worker.
    std::set<pid_t> workers;
    for (unsigned i = 0; i < kGuests; ++i) workers.insert(worker_pid(be("virtio_disk", kFirst + i, kXvda)));
    EXPECT_EQ(workers.size(), kGuests);
    // Tearing them all down.
    auto t0 = Clock::now();
    for (unsigned i = 0; i < kGuests; ++i) XS_ASSERT_OK(env->close_backend(be("virtio_disk", kFirst + i, kXvda)));
    for (unsigned i = 0; i < kGuests; ++i) ASSERT_TRUE(wait_state(be("virtio_disk", kFirst + i, kXvda), "6"));
    std::printf("100 guests: all 100 closed (5 -> 6) in %.1f ms\n",
                std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
}

}  // namespace
}  // namespace xenvhost::xstest

namespace xenvhost::xstest {
namespace {

// Guests created one after the other, as a host running `xl create` in turn
// does: each device's time from its directory to state 2, a new worker each time.
TEST_F(XenstoreLevel, GuestsCreatedOneAfterAnother) {
    constexpr unsigned kGuests = 20, kFirst = 200;
    std::string img = image("seq.img", 1 << 20);
    start_daemon({"--log-level", "warn"});
    XS_ASSERT_OK(env->xs().write("/local/domain/0/backend/virtio_disk/1/probe/state", "1"));
    ASSERT_TRUE(wait_error("/local/domain/0/backend/virtio_disk/1/probe"));
    std::vector<double> ms;
    for (unsigned d = kFirst; d < kFirst + kGuests; ++d) {
        XS_ASSERT_OK(env->create_domain(d, fmt::format("s{}", d)));
        auto tree = disk(d, kXvda, img);
        auto t0 = Clock::now();
        XS_ASSERT_OK(env->write_tree(tree));
        ASSERT_TRUE(wait_state(be("virtio_disk", d, kXvda), "2")) << "dom" << d;
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%u guests one after another: device dir -> state 2: median %.1f ms, max %.1f ms\n", kGuests,
                (ms[kGuests / 2 - 1] + ms[kGuests / 2]) / 2, ms.back());
    EXPECT_LT(ms.back(), 10000) << "libxl would have given up";
}

}  // namespace
}  // namespace xenvhost::xstest
