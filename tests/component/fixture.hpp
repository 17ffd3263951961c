#pragma once
// Shared fixture for component tests: each test gets a private directory, a
// patterned disk image and a freshly started back-end (the worker, or
// qemu-storage-daemon with XENVHOST_COMPONENT_BACKEND=qsd), stopped by its
// pid at the end. The back-end's log is printed when a test fails.

#include "frontend/backend_process.hpp"
#include "frontend/blk_session.hpp"
#include "frontend/test_env.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

namespace xenvhost::component {

using namespace xenvhost::frontend;

#define XV_CAT2(a, b) a##b
#define XV_CAT(a, b) XV_CAT2(a, b)

// Asserts that a Result holds a value, printing the error otherwise.
#define ASSERT_OK(expr)                                                          \
    do {                                                                         \
        auto&& xv_r_ = (expr);                                                   \
        ASSERT_TRUE(xv_r_.has_value()) << #expr << ": " << xv_r_.error().message; \
    } while (0)

#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                           \
    auto XV_CAT(xv_r_, __LINE__) = (expr);                                        \
    ASSERT_TRUE(XV_CAT(xv_r_, __LINE__).has_value())                              \
        << #expr << ": " << XV_CAT(xv_r_, __LINE__).error().message;              \
    lhs = std::move(*XV_CAT(xv_r_, __LINE__))

BackendKind backend_kind();
// The session the tests use unless they need something else.
SessionOptions default_session();
std::string worker_program();
std::string qsd_program();

struct BackendConfig {
    bool read_only = false;
    uint16_t num_queues = 2;
    uint16_t queue_size = 0;  // worker maximum; 0 = its default
    std::string serial = "xenvhost-test-disk";
    uint64_t image_size = 16ull << 20;
    uint64_t seed = 0x5eed;
    std::vector<std::string> extra_args;  // appended to the back-end's command line
};

class BackendTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;
    virtual BackendConfig config() const { return {}; }

    bool is_worker() const { return kind_ == BackendKind::kWorker; }
    // The GET_ID answer the back-end is expected to give.
    std::string expected_serial() const;
    // Protocol features the back-end must offer.
    uint64_t required_protocol_features() const;

    // Connects and negotiates (no rings yet).
    Result<std::unique_ptr<BlkSession>> connect(const SessionOptions& opts = default_session());
    // Connects and starts every ring.
    Result<std::unique_ptr<BlkSession>> open(const SessionOptions& opts = default_session());

    // Image contents as the file holds them, and as the pattern made them.
    std::vector<uint8_t> file_bytes(uint64_t offset, size_t len);
    std::vector<uint8_t> original(uint64_t offset, size_t len) const;
    // Writes through the front-end, checks the image file, reads it back.
    void verified_io(BlkQueue& q, uint64_t sector, uint32_t len, uint64_t seed);
    // A fresh session doing verified_io: the back-end still serves.
    void expect_serves();
    // Restarts the back-end (e.g. after a test changed its options), with a
    // fresh image unless `keep_image`.
    void restart_backend(const BackendConfig& cfg, bool keep_image = false);

    BackendConfig cfg_;
    BackendKind kind_ = BackendKind::kWorker;
    std::unique_ptr<TempDir> dir_;
    std::string image_, socket_;
    std::unique_ptr<BackendProcess> backend_;
};

// A test of what only the worker does (its back-end channel: IOTLB and
// config-change messages) on one queue and a 16 MiB image; skipped with
// `why` when the back-end under test is qemu-storage-daemon.
class WorkerOnlyTest : public BackendTest {
protected:
    explicit WorkerOnlyTest(const char* why) : why_(why) {}
    BackendConfig config() const override {
        BackendConfig c;
        c.num_queues = 1;
        c.image_size = 16ull << 20;
        return c;
    }
    void SetUp() override {
        BackendTest::SetUp();
        if (!is_worker()) GTEST_SKIP() << why_;
    }

private:
    const char* why_;
};

// Random bytes from a seed (data the tests write).
std::vector<uint8_t> random_bytes(uint64_t seed, size_t len);
// First differing offset, for messages; -1 if equal.
long first_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);

}  // namespace xenvhost::component
