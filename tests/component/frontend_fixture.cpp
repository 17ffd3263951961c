#include "frontend_fixture.hpp"

#include "event/timer.hpp"
#include "frontend/region_devices.hpp"
#include "frontend/xen_guest_memory.hpp"
#include "frontend/xen_worker.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <iostream>
#include <optional>

namespace xenvhost::component {

namespace {

constexpr uint64_t kImageSize = 16ull << 20;
constexpr uint64_t kSeed = 0xf00d;

// Sets variables for the worker spawned while it lives, then restores them.
class ScopedEnv {
public:
    void set(const std::string& name, const std::string& value) {
        const char* old = std::getenv(name.c_str());
        saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
        ::setenv(name.c_str(), value.c_str(), 1);
    }
    ~ScopedEnv() {
        for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
            if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1);
            else ::unsetenv(it->first.c_str());
        }
    }

private:
    std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

}  // namespace

void RecordingSink::queue_interrupt(uint16_t index) {
    if (index < queue_interrupts.size()) ++queue_interrupts[index];
    if (on_event) on_event();
}
void RecordingSink::config_interrupt() {
    ++config_interrupts;
    if (on_event) on_event();
}
void RecordingSink::device_broken() {
    ++broken;
    if (on_event) on_event();
}

void FrontendTest::SetUp() {
    auto d = TempDir::create("xenvhost-fe");
    ASSERT_TRUE(d) << d.error().message;
    dir_ = std::make_unique<TempDir>(std::move(*d));
    socket_ = dir_->file("vhost.sock");
    image_ = dir_->file("disk.img");
    ASSERT_OK(create_image(image_, kImageSize, kSeed));
    const std::string state = dir_->file("xen");
    ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
    auto f = fe::XenDoubleFiles::create(state, kGuestEnd / 4096, kDomid);
    ASSERT_TRUE(f) << f.error().message;
    files_ = std::make_unique<fe::XenDoubleFiles>(std::move(*f));
    auto l = event::EventLoop::create();
    ASSERT_TRUE(l) << l.error().message;
    loop_ = std::move(*l);
}

void FrontendTest::TearDown() {
    dev_.reset();
    if (!worker_) return;
    const bool alive = worker_->alive();
    (void)worker_->stop();
    if (HasFailure()) std::cout << "---- worker log ----\n" << worker_->log_tail(6000) << "\n----\n";
    EXPECT_TRUE(alive) << "the worker died during the test";
}

void FrontendTest::start_worker(bool xen) {
    const auto defaults = fe::xen_worker_defaults(XENVHOST_BUILD_BIN);
    BackendOptions b;
    b.program = defaults.program;
    b.socket_path = socket_;
    b.image_path = image_;
    b.log_path = dir_->file("worker.log");
    b.num_queues = 2;
    b.serial = "xenvhost-fe-disk";
    ScopedEnv env;
    if (xen) {
        b.extra_args = {"--domid", std::to_string(kDomid)};
        env.set("LD_PRELOAD", defaults.double_lib);
        for (const auto& [k, v] : files_->environment()) env.set(k, v);
        const char* asan = std::getenv("ASAN_OPTIONS");
        env.set("ASAN_OPTIONS", std::string(asan && *asan ? asan : "") + (asan && *asan ? ":" : "") +
                                    "verify_asan_link_order=0");
    }
    auto p = BackendProcess::start(b);
    ASSERT_TRUE(p) << p.error().message;
    worker_ = std::move(*p);
}

void FrontendTest::kill_worker() {
    auto st = worker_->kill_now();
    ASSERT_TRUE(st) << st.error().message;
}

vf::FrontendConfig FrontendTest::config() const {
    vf::FrontendConfig c;
    c.socket_path = socket_;
    c.domid = kDomid;
    c.device_id = 2;
    c.ram = {{0, 0xa0000}, {0x100000, kHoleStart - 0x100000}, {kHoleEnd, kGuestEnd - kHoleEnd}};
    c.region_kind = vf::RegionKind::kForeign;
    // The double's stand-ins for the Xen devices (tests/xendouble/README.md).
    c.region_devices = vf::RegionDevices::open("/dev/zero", "/dev/null", kDomid);
    c.reconnect.first_delay = std::chrono::milliseconds(10);
    c.reconnect.max_delay = std::chrono::milliseconds(200);
    return c;
}

Result<std::unique_ptr<vf::VhostUserFrontend>> FrontendTest::make_frontend(const vf::FrontendConfig& cfg) {
    auto d = vf::VhostUserFrontend::create(*loop_, cfg);
    if (d) (*d)->set_interrupt_sink(&sink_);
    return d;
}

bool FrontendTest::pump_until(const std::function<bool()>& done, int timeout_ms) {
    if (done()) return true;
    bool expired = false;
    auto deadline = event::Timer::create(*loop_, [&] {
        expired = true;
        loop_->stop();
    });
    // Conditions that no interrupt announces (a reconnect) are looked at on a tick.
    std::unique_ptr<event::Timer> tick;
    auto t = event::Timer::create(*loop_, [&] {
        if (done()) loop_->stop();
        else tick->arm(std::chrono::milliseconds(10));
    });
    if (!deadline || !t) return false;
    tick = std::move(*t);
    (*deadline)->arm(std::chrono::milliseconds(timeout_ms));
    tick->arm(std::chrono::milliseconds(10));
    sink_.on_event = [&] {
        if (done()) loop_->stop();
    };
    auto r = loop_->run();
    sink_.on_event = nullptr;
    EXPECT_TRUE(r) << r.error().message;
    return done();
}

std::vector<transport::QueueConfig> FrontendTest::setup_guest(unsigned count, uint16_t size) {
    if (mem_.regions().empty()) {
        std::vector<RegionLayout> layout;
        for (const auto& r : config().ram) layout.push_back({r.gpa, r.size});
        auto m = fe::make_xen_guest_memory(*files_, layout);
        EXPECT_TRUE(m) << m.error().message;
        if (!m) return {};
        mem_ = std::move(*m);
    }
    queues_.clear();
    std::vector<transport::QueueConfig> out;
    for (unsigned i = 0; i < count; ++i) {
        QueueOptions qo;
        qo.size = size;
        qo.region = 1;
        auto ring = SplitQueue::create(mem_, static_cast<uint16_t>(i), qo, &gpa_);
        EXPECT_TRUE(ring) << ring.error().message;
        if (!ring) return {};
        BlkQueueOptions bo;
        bo.depth = 32;
        bo.max_data = 64 * 1024;
        bo.region = 1;
        auto blk = BlkQueue::create(mem_, **ring, bo);
        EXPECT_TRUE(blk) << blk.error().message;
        if (!blk) return {};
        out.push_back({static_cast<uint16_t>(i), size, (*ring)->desc_gpa(), (*ring)->avail_gpa(), (*ring)->used_gpa()});
        queues_.push_back({std::move(*ring), std::move(*blk)});
    }
    return out;
}

void FrontendTest::submit(unsigned q, const BlkCommand& cmd) {
    auto s = queues_.at(q).blk->submit(cmd);
    ASSERT_TRUE(s) << s.error().message;
    queues_[q].blk->flush();
    dev_->notify(static_cast<uint16_t>(q));
}

std::vector<BlkCompletion> FrontendTest::complete(unsigned q, size_t n, int timeout_ms) {
    std::vector<BlkCompletion> out;
    BlkQueue& blk = *queues_.at(q).blk;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (out.size() < n) {
        auto got = blk.poll(0, n - out.size());
        EXPECT_TRUE(got) << got.error().message;
        if (!got) break;
        out.insert(out.end(), got->begin(), got->end());
        if (out.size() >= n) break;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        const unsigned seen = sink_.queue_interrupts[q];
        if (left.count() <= 0 || !pump_until([&] { return sink_.queue_interrupts[q] != seen; }, static_cast<int>(left.count())))
            break;
    }
    return out;
}

void FrontendTest::verified_io(unsigned q, uint64_t sector, uint32_t len, uint64_t seed) {
    auto data = random_bytes(seed, len);
    submit(q, BlkCommand::out(sector, data));
    auto w = complete(q, 1);
    ASSERT_EQ(w.size(), 1u) << "write not completed";
    ASSERT_EQ(w[0].status, VIRTIO_BLK_S_OK);
    ASSERT_EQ(first_difference(image_bytes(sector * kSectorSize, len), data), -1) << "image differs after write";
    submit(q, BlkCommand::in(sector, len));
    auto r = complete(q, 1);
    ASSERT_EQ(r.size(), 1u) << "read not completed";
    ASSERT_EQ(r[0].status, VIRTIO_BLK_S_OK);
    auto back = queues_[q].blk->data(r[0]);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(first_difference(*back, data), -1) << "read-back differs";
}

std::vector<uint8_t> FrontendTest::image_bytes(uint64_t offset, size_t len) {
    auto b = pread_file(image_, offset, len);
    EXPECT_TRUE(b) << b.error().message;
    return b ? *b : std::vector<uint8_t>{};
}

}  // namespace xenvhost::component
