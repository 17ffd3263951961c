#pragma once
// gtest fixture for the xenstore level: every test gets its own xenstored,
// run directory and images; the daemon's log is printed when a test fails.

#include "tests/xenstore/harness.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace xenvhost::xstest {

#define XS_ASSERT_OK(expr)                                                        \
    do {                                                                          \
        auto&& xs_r_ = (expr);                                                    \
        ASSERT_TRUE(xs_r_.has_value()) << #expr << ": " << xs_r_.error().message; \
    } while (0)

inline constexpr int kWaitMs = 10000;  // libxl's own limit for InitWait
inline constexpr unsigned kXvda = 51712, kXvdb = 51728;

class XenstoreLevel : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;

    // Starts (or restarts) xenvhostd; self is the backend domain it serves.
    void start_daemon(const std::vector<std::string>& extra = {}, const std::vector<std::string>& extra_env = {});
    void stop_daemon(int sig = 15);

    std::string image(const std::string& name, uint64_t size = 8 << 20);
    // A libxl-written virtio disk (4.17 layout unless grant is given).
    Tree disk(unsigned domid, unsigned devid, const std::string& params, const std::string& mode = "w",
              std::optional<std::string> grant = std::nullopt, unsigned backend = 0);
    // A libxl-written generic virtio device with `params` added by the operator.
    Tree virtio(unsigned domid, unsigned devid, const std::string& type, std::optional<std::string> params,
                unsigned backend = 0);
    std::string be(const std::string& kind, unsigned domid, unsigned devid, unsigned backend = 0) const;
    std::string socket(const std::string& kind, unsigned domid, unsigned devid) const;
    bool wait_state(const std::string& be_dir, const std::string& state, int timeout_ms = kWaitMs);
    bool wait_error(const std::string& be_dir, int timeout_ms = kWaitMs);
    // Connects a vhost-user front-end and does verified I/O through the socket.
    void expect_io(const std::string& socket_path, const std::string& image_path, uint64_t sector);
    pid_t worker_pid(const std::string& be_dir);

    std::unique_ptr<XenstoreEnv> env;
    std::unique_ptr<DaemonProcess> daemon;
    std::vector<std::string> old_logs;
};

}  // namespace xenvhost::xstest
