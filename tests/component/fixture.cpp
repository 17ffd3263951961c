#include "fixture.hpp"

#include <sys/wait.h>

#include <cstdlib>
#include <iostream>
#include <random>

namespace xenvhost::component {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;

BackendKind backend_kind() {
    const char* b = std::getenv("XENVHOST_COMPONENT_BACKEND");
    return (b && std::string(b) == "qsd") ? BackendKind::kQsd : BackendKind::kWorker;
}

std::string worker_program() {
    if (const char* w = std::getenv("XENVHOST_WORKER"); w && *w) return w;
    return std::string(XENVHOST_BUILD_BIN) + "/xenvhost-worker";
}

std::string qsd_program() {
    if (const char* q = std::getenv("XENVHOST_QSD"); q && *q) return q;
    return "/usr/bin/qemu-storage-daemon";
}

std::vector<uint8_t> random_bytes(uint64_t seed, size_t len) {
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> v(len);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = rng();
        for (size_t j = 0; j < 8 && i + j < len; ++j) v[i + j] = static_cast<uint8_t>(w >> (8 * j));
    }
    return v;
}

long first_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i)
        if (a[i] != b[i]) return static_cast<long>(i);
    return a.size() == b.size() ? -1 : static_cast<long>(n);
}

void BackendTest::SetUp() {
    kind_ = backend_kind();
    cfg_ = config();
    auto dir = TempDir::create("xenvhost-component");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = std::make_unique<TempDir>(std::move(*dir));
    image_ = dir_->file("disk.img");
    socket_ = dir_->file("vhost.sock");
    restart_backend(cfg_);
}

void BackendTest::restart_backend(const BackendConfig& cfg, bool keep_image) {
    if (backend_) (void)backend_->stop();
    backend_.reset();
    cfg_ = cfg;
    if (!keep_image) ASSERT_OK(create_image(image_, cfg.image_size, cfg.seed));
    BackendOptions o;
    o.kind = kind_;
    o.program = kind_ == BackendKind::kWorker ? worker_program() : qsd_program();
    o.socket_path = socket_;
    o.image_path = image_;
    o.log_path = dir_->file("backend.log");
    o.read_only = cfg.read_only;
    o.num_queues = cfg.num_queues;
    o.queue_size = cfg.queue_size;
    o.serial = cfg.serial;
    o.extra_args = cfg.extra_args;
    auto b = BackendProcess::start(o);
    ASSERT_TRUE(b) << b.error().message;
    backend_ = std::move(*b);
}

void BackendTest::TearDown() {
    if (!backend_) return;
    bool was_alive = backend_->alive();
    auto st = backend_->stop();
    if (is_worker()) {
        EXPECT_TRUE(was_alive) << "the back-end died during the test ("
                               << describe_wait_status(backend_->wait_status()) << ")";
        // The worker's contract: exit 0 on SIGTERM.
        if (was_alive) {
            ASSERT_TRUE(st) << st.error().message;
            EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
                << "worker did not exit cleanly on SIGTERM: " << describe_wait_status(*st);
        }
    }
    if (HasFailure()) {
        std::cout << "---- " << backend_name(kind_) << " log (" << dir_->file("backend.log")
                  << ") ----\n"
                  << backend_->log_tail(6000) << "\n---- end of log ----\n";
    }
}

std::string BackendTest::expected_serial() const {
    // qemu-storage-daemon 7.2 answers GET_ID with a fixed string.
    return is_worker() ? cfg_.serial : "vhost_user_blk";
}

uint64_t BackendTest::required_protocol_features() const {
    uint64_t f = vu::bit(pf::kMq) | vu::bit(pf::kReplyAck) | vu::bit(pf::kConfig) |
                 vu::bit(pf::kConfigureMemSlots);
    if (is_worker()) f |= vu::bit(pf::kResetDevice) | vu::bit(pf::kStatus);
    return f;
}

SessionOptions default_session() {
    SessionOptions o;
    o.memory_size = 32ull << 20;
    o.queue_size = 128;
    o.blk.depth = 32;
    o.blk.max_data = 128 * 1024;
    return o;
}

Result<std::unique_ptr<BlkSession>> BackendTest::connect(const SessionOptions& opts) {
    return BlkSession::connect(socket_, opts);
}

Result<std::unique_ptr<BlkSession>> BackendTest::open(const SessionOptions& opts) {
    auto s = BlkSession::connect(socket_, opts);
    if (!s) return s;
    if (auto r = (*s)->start(); !r) return std::unexpected(r.error());
    return s;
}

std::vector<uint8_t> BackendTest::file_bytes(uint64_t offset, size_t len) {
    auto b = pread_file(image_, offset, len);
    EXPECT_TRUE(b) << b.error().message;
    return b ? *b : std::vector<uint8_t>{};
}

std::vector<uint8_t> BackendTest::original(uint64_t offset, size_t len) const {
    return pattern(cfg_.seed, offset, len);
}

void BackendTest::verified_io(BlkQueue& q, uint64_t sector, uint32_t len, uint64_t seed) {
    auto data = random_bytes(seed, len);
    ASSERT_OK(q.write(sector, data));
    auto in_file = file_bytes(sector * kSectorSize, len);
    ASSERT_EQ(first_difference(in_file, data), -1) << "image file differs after write";
    std::vector<uint8_t> back;
    ASSERT_OK_AND_ASSIGN(back, q.read(sector, len));
    ASSERT_EQ(first_difference(back, data), -1) << "read-back differs from what was written";
}

void BackendTest::expect_serves() {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, open());
    // The last MiB of the image is reserved for these checks.
    static uint64_t round = 1;
    uint64_t sector = cfg_.image_size / kSectorSize - 2048 + (round % 256) * 8;
    verified_io(s->blk(0), sector, 4096, 0xabc0 + round);
    ++round;
}

}  // namespace xenvhost::component
