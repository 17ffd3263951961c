// VIRTIO shared memory over the back-end request channel (SHMEM_MAP /
// SHMEM_UNMAP, GET_SHMEM_CONFIG). The worker's blk device has no shared
// memory, so the protocol layer runs in this process: a BackendSession on
// its own thread over a real unix socket, with a small device that reports
// one 1 MiB region, and the in-tree front-end on the other end mapping what
// it is asked to into its own reservation of that region.

#include "fixture.hpp"

#include "base/eventfd.hpp"
#include "base/mapping.hpp"
#include "frontend/backend_channel.hpp"
#include "frontend/backend_channel_shmem.hpp"
#include "frontend/bytes.hpp"
#include "vhost_user/backend_session.hpp"

#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <thread>

namespace xenvhost::component {
namespace {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kRegionSize = 1ull << 20;
constexpr uint64_t kKiB = 1024;

// A device with one VIRTIO shared memory region and nothing else.
class ShmemDevice final : public devices::Device {
public:
    std::string_view type() const override { return "shmem-test"; }
    uint64_t features() const override { return vu::bit(32); }  // VERSION_1
    void set_acked_features(uint64_t) override {}
    uint16_t num_queues() const override { return 1; }
    uint16_t max_queue_size() const override { return 256; }
    std::span<const uint8_t> config() const override { return {}; }
    bool write_config(uint32_t, std::span<const uint8_t>) override { return false; }
    std::unique_ptr<devices::QueueHandler> make_queue_handler(uint16_t, uint16_t) override { return nullptr; }
    std::vector<uint64_t> shared_memory_regions() const override { return {kRegionSize}; }
};

// These tests start no rings.
class NoRings final : public vu::VringRunner {
public:
    Result<> start(const vu::VringStart&) override { return fail("this back-end runs no rings"); }
    uint16_t stop(uint16_t) override { return 0; }
    void set_call(uint16_t, std::shared_ptr<UniqueFd>) override {}
    Result<> set_memory(std::shared_ptr<const memory::GuestMemory>) override { return {}; }
};

// A BackendSession served on its own thread, as the worker's event loop
// serves one: messages in turn, and work posted to it in between.
class InProcessBackend {
public:
    using Task = std::function<Result<void>(vu::BackendSession&)>;

    static Result<std::unique_ptr<InProcessBackend>> start(const std::string& path, devices::Device& device) {
        UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!sock) return fail_errno("socket");
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (path.size() >= sizeof addr.sun_path) return fail("socket path too long: {}", path);
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0)
            return fail_errno("bind {}", path);
        if (::listen(sock.get(), 1) < 0) return fail_errno("listen");
        auto wake = make_eventfd();
        if (!wake) return std::unexpected(wake.error());
        std::unique_ptr<InProcessBackend> b(new InProcessBackend(device));
        b->listen_ = std::move(sock);
        b->wake_ = std::move(*wake);
        b->thread_ = std::thread([p = b.get()] { p->run(); });
        return b;
    }

    ~InProcessBackend() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        eventfd_signal(wake_.get());
        if (thread_.joinable()) thread_.join();
    }

    // Runs `task` on the session thread between two messages.
    Result<void> run(Task task, int timeout_ms = 10000) {
        std::promise<Result<void>> done;
        auto result = done.get_future();
        {
            std::lock_guard lock(mutex_);
            tasks_.push_back({std::move(task), std::move(done)});
        }
        eventfd_signal(wake_.get());
        if (result.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready)
            return fail("the back-end session thread did not run the task within {} ms", timeout_ms);
        return result.get();
    }

    std::vector<std::string> errors() const {
        std::lock_guard lock(mutex_);
        return errors_;
    }

private:
    explicit InProcessBackend(devices::Device& device) : device_(device) {}

    void error(std::string e) {
        std::lock_guard lock(mutex_);
        errors_.push_back(std::move(e));
    }

    bool stopping() {
        std::lock_guard lock(mutex_);
        return stopping_;
    }

    void run_tasks(vu::BackendSession* session) {
        std::deque<std::pair<Task, std::promise<Result<void>>>> tasks;
        {
            std::lock_guard lock(mutex_);
            tasks.swap(tasks_);
        }
        for (auto& [task, done] : tasks)
            done.set_value(session ? task(*session) : Result<void>(fail("no front-end connected")));
    }

    void run() {
        while (!stopping()) {
            pollfd p[2] = {{listen_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
            if (::poll(p, 2, -1) < 0 && errno != EINTR) return error("poll on the listening socket failed");
            if (p[1].revents & POLLIN) {
                eventfd_drain(wake_.get());
                run_tasks(nullptr);
                continue;
            }
            if (!(p[0].revents & POLLIN)) continue;
            UniqueFd fd(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!fd) continue;
            serve(std::move(fd));
        }
    }

    void serve(UniqueFd fd) {
        vu::Connection conn(std::move(fd));
        (void)conn.set_timeouts(5000);
        NoRings runner;
        vu::BackendSession session(conn, device_, runner, vu::SessionOptions{});
        while (!stopping()) {
            pollfd p[2] = {{conn.fd(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
            if (::poll(p, 2, -1) < 0) {
                if (errno == EINTR) continue;
                return error("poll on the connection failed");
            }
            // Messages already sent go first: a task posted after a message
            // (SET_BACKEND_REQ_FD without an ack) must find it handled.
            if (p[0].revents & (POLLIN | POLLHUP)) {
                auto msg = conn.receive();
                if (!msg) {
                    if (msg.error().kind != ErrorKind::kPeerGone) error(msg.error().message);
                    return;
                }
                if (auto r = session.handle(*msg); !r) return error(r.error().message);
                continue;
            }
            if (p[1].revents & POLLIN) {
                eventfd_drain(wake_.get());
                run_tasks(&session);
            }
        }
    }

    devices::Device& device_;
    UniqueFd listen_, wake_;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::deque<std::pair<Task, std::promise<Result<void>>>> tasks_;
    std::vector<std::string> errors_;
    bool stopping_ = false;
};

// A memfd of `size` bytes holding pattern(seed).
UniqueFd patterned_memfd(uint64_t size, uint64_t seed) {
    auto fd = make_memfd("shmem-test", size);
    EXPECT_TRUE(fd) << fd.error().message;
    if (!fd) return {};
    auto bytes = pattern(seed, 0, size);
    EXPECT_EQ(::pwrite(fd->get(), bytes.data(), bytes.size(), 0), static_cast<ssize_t>(size));
    return std::move(*fd);
}

std::vector<uint8_t> read_fd(int fd, uint64_t offset, size_t len) {
    std::vector<uint8_t> v(len);
    EXPECT_EQ(::pread(fd, v.data(), len, static_cast<off_t>(offset)), static_cast<ssize_t>(len));
    return v;
}

class ShmemChannelTest : public ::testing::Test {
protected:
    virtual bool reply_ack() const { return true; }

    void SetUp() override {
        auto dir = TempDir::create("xenvhost-shmem");
        ASSERT_TRUE(dir) << dir.error().message;
        dir_ = std::make_unique<TempDir>(std::move(*dir));
        ASSERT_OK_AND_ASSIGN(backend_, InProcessBackend::start(dir_->file("vhost.sock"), device_));
        Connection conn;
        ASSERT_OK_AND_ASSIGN(conn, Connection::connect(dir_->file("vhost.sock")));
        client_ = std::make_unique<VhostClient>(std::move(conn));

        uint64_t features, proto;
        ASSERT_OK_AND_ASSIGN(features, client_->get_features());
        ASSERT_TRUE(features & vu::bit(vu::kFeatureProtocolFeatures));
        ASSERT_OK_AND_ASSIGN(proto, client_->get_protocol_features());
        const uint64_t want = vu::bit(pf::kShmem) | vu::bit(pf::kBackendReq) | vu::bit(pf::kReplyAck);
        ASSERT_EQ(proto & want, want) << "offered protocol features " << std::hex << proto;
        ASSERT_OK(client_->set_protocol_features(reply_ack() ? want : want & ~vu::bit(pf::kReplyAck)));
        ASSERT_OK(client_->set_features(vu::bit(32) | vu::bit(vu::kFeatureProtocolFeatures)));
        ASSERT_OK(client_->set_owner());

        Message reply;
        ASSERT_OK_AND_ASSIGN(reply, client_->call(vu::Request::kGetShmemConfig));
        ASSERT_EQ(reply.payload.size(), sizeof(vu::ShmemConfig));
        std::memcpy(&shmem_config_, reply.payload.data(), sizeof shmem_config_);
        ASSERT_EQ(shmem_config_.nregions, 1u);
        std::vector<uint64_t> sizes(shmem_config_.mem_sizes, shmem_config_.mem_sizes + shmem_config_.nregions);
        ASSERT_OK_AND_ASSIGN(regions_, SharedMemoryRegions::create(sizes));

        ASSERT_OK_AND_ASSIGN(channel_, BackendChannel::create());
        regions_->serve(*channel_);
        ASSERT_OK(channel_->start());
        int fd = channel_->backend_end();
        ASSERT_OK(client_->send(vu::Request::kSetBackendReqFd, {}, {&fd, 1}));
        channel_->close_backend_end();
    }

    void TearDown() override {
        if (channel_) {
            for (const auto& e : channel_->errors()) ADD_FAILURE() << "back-end channel: " << e;
            channel_->stop();
        }
        client_.reset();
        backend_.reset();
        for (const auto& e : errors_seen()) ADD_FAILURE() << "back-end session: " << e;
    }

    std::vector<std::string> errors_seen() const { return backend_ ? backend_->errors() : std::vector<std::string>{}; }

    Result<void> shmem_map(uint8_t shmid, int fd, uint64_t fd_offset, uint64_t shm_offset, uint64_t len,
                           bool writable) {
        return backend_->run([=](vu::BackendSession& s) {
            return s.shmem_map(shmid, fd, fd_offset, shm_offset, len, writable);
        });
    }
    Result<void> shmem_unmap(uint8_t shmid, uint64_t shm_offset, uint64_t len) {
        return backend_->run([=](vu::BackendSession& s) { return s.shmem_unmap(shmid, shm_offset, len); });
    }

    // The last request of kind `id` the front-end received.
    ChannelRecord last(BackendRequest id) const {
        ChannelRecord found;
        for (const auto& r : channel_->records())
            if (r.request == static_cast<uint32_t>(id)) found = r;
        return found;
    }
    static vu::ShmemMap payload_of(const ChannelRecord& r) {
        vu::ShmemMap m{};
        if (r.payload.size() == sizeof m) std::memcpy(&m, r.payload.data(), sizeof m);
        return m;
    }

    uint8_t* region(uint64_t offset) const { return regions_->base(0) + offset; }
    std::vector<uint8_t> region_bytes(uint64_t offset, size_t len) const {
        return std::vector<uint8_t>(region(offset), region(offset) + len);
    }
    bool reserved(uint64_t offset) const { return page_protection(region(offset)) == "---p"; }

    ShmemDevice device_;
    std::unique_ptr<TempDir> dir_;
    std::unique_ptr<InProcessBackend> backend_;
    std::unique_ptr<VhostClient> client_;
    vu::ShmemConfig shmem_config_{};
    // Declared before the channel: its reader maps into them until stopped.
    std::unique_ptr<SharedMemoryRegions> regions_;
    std::unique_ptr<BackendChannel> channel_;
};

TEST_F(ShmemChannelTest, ConfigReportsTheDeviceRegion) {
    EXPECT_EQ(shmem_config_.mem_sizes[0], kRegionSize);
    for (size_t i = 1; i < 256; ++i) ASSERT_EQ(shmem_config_.mem_sizes[i], 0u) << "region " << i;
    // The reservation covers the region and nothing is mapped in it yet.
    EXPECT_EQ(regions_->size(0), kRegionSize);
    EXPECT_TRUE(reserved(0));
    EXPECT_TRUE(reserved(kRegionSize - 4096));
    EXPECT_FALSE(kernel_can_read(region(0), 1));
}

TEST_F(ShmemChannelTest, MappedBytesAreTheBackendsFile) {
    UniqueFd fd = patterned_memfd(256 * kKiB, 31);
    ASSERT_OK(shmem_map(0, fd.get(), 64 * kKiB, 128 * kKiB, 64 * kKiB, false));

    ChannelRecord r = last(BackendRequest::kShmemMap);
    EXPECT_EQ(r.flags, vu::kVersion | vu::kFlagNeedReply);
    EXPECT_EQ(r.fds, 1u);
    ASSERT_TRUE(r.answer.has_value());
    EXPECT_EQ(*r.answer, 0u);
    vu::ShmemMap m = payload_of(r);
    EXPECT_EQ(m.shmid, 0);
    EXPECT_EQ(m.fd_offset, 64 * kKiB);
    EXPECT_EQ(m.shm_offset, 128 * kKiB);
    EXPECT_EQ(m.len, 64 * kKiB);
    EXPECT_EQ(m.flags, 0u);

    EXPECT_EQ(first_difference(region_bytes(128 * kKiB, 64 * kKiB), pattern(31, 64 * kKiB, 64 * kKiB)), -1);
    // Only that range was mapped.
    EXPECT_TRUE(reserved(128 * kKiB - 4096));
    EXPECT_TRUE(reserved(192 * kKiB));
    // It is the back-end's memory, not a copy: later changes show through.
    const uint8_t marker[] = "written by the back-end after the map";
    ASSERT_EQ(::pwrite(fd.get(), marker, sizeof marker, 64 * kKiB + 100), static_cast<ssize_t>(sizeof marker));
    EXPECT_EQ(std::memcmp(region(128 * kKiB + 100), marker, sizeof marker), 0);
}

TEST_F(ShmemChannelTest, WritableAndReadOnlyMappingsAreHonoured) {
    UniqueFd rw = patterned_memfd(64 * kKiB, 1), ro = patterned_memfd(64 * kKiB, 2);
    ASSERT_OK(shmem_map(0, rw.get(), 0, 0, 64 * kKiB, true));
    ASSERT_OK(shmem_map(0, ro.get(), 0, 256 * kKiB, 64 * kKiB, false));
    EXPECT_EQ(payload_of(last(BackendRequest::kShmemMap)).flags, 0u);

    EXPECT_EQ(page_protection(region(0)), "rw-s");
    EXPECT_EQ(page_protection(region(256 * kKiB)), "r--s");

    // A write through the front-end's region lands in the back-end's file.
    const uint8_t text[] = "written by the front-end";
    std::memcpy(region(4096 + 7), text, sizeof text);
    EXPECT_EQ(std::memcmp(read_fd(rw.get(), 4096 + 7, sizeof text).data(), text, sizeof text), 0);

    // The read-only one refuses writes (probed through the kernel: EFAULT, not SIGSEGV).
    EXPECT_TRUE(kernel_can_read(region(256 * kKiB), 4096));
    EXPECT_FALSE(kernel_can_write(region(256 * kKiB), 4096));
    EXPECT_EQ(first_difference(read_fd(ro.get(), 0, 64 * kKiB), pattern(2, 0, 64 * kKiB)), -1);
    EXPECT_EQ(first_difference(region_bytes(256 * kKiB, 64 * kKiB), pattern(2, 0, 64 * kKiB)), -1);
}

TEST_F(ShmemChannelTest, OverlappingMapIsRefused) {
    UniqueFd a = patterned_memfd(128 * kKiB, 3), b = patterned_memfd(128 * kKiB, 4);
    ASSERT_OK(shmem_map(0, a.get(), 0, 64 * kKiB, 64 * kKiB, false));
    struct Case {
        uint64_t offset, len;
    };
    for (Case c : {Case{64 * kKiB, 64 * kKiB}, Case{32 * kKiB, 64 * kKiB}, Case{96 * kKiB, 64 * kKiB},
                   Case{0, 256 * kKiB}, Case{124 * kKiB, 4 * kKiB}}) {
        auto r = shmem_map(0, b.get(), 0, c.offset, c.len, true);
        EXPECT_FALSE(r) << "map at " << c.offset << " len " << c.len << " over [64 KiB, 128 KiB) succeeded";
        ChannelRecord rec = last(BackendRequest::kShmemMap);
        ASSERT_TRUE(rec.answer.has_value());
        EXPECT_EQ(*rec.answer, static_cast<uint64_t>(EEXIST));
    }
    // The mapping in place is untouched; the neighbours are still free.
    ASSERT_EQ(regions_->mappings(0).size(), 1u);
    EXPECT_EQ(page_protection(region(64 * kKiB)), "r--s");
    EXPECT_EQ(first_difference(region_bytes(64 * kKiB, 64 * kKiB), pattern(3, 0, 64 * kKiB)), -1);
    ASSERT_OK(shmem_map(0, b.get(), 0, 0, 64 * kKiB, false));
    ASSERT_OK(shmem_map(0, b.get(), 64 * kKiB, 128 * kKiB, 64 * kKiB, false));
    EXPECT_EQ(first_difference(region_bytes(0, 64 * kKiB), pattern(4, 0, 64 * kKiB)), -1);
    EXPECT_EQ(first_difference(region_bytes(128 * kKiB, 64 * kKiB), pattern(4, 64 * kKiB, 64 * kKiB)), -1);
}

TEST_F(ShmemChannelTest, MapOutsideTheRegionIsRefused) {
    UniqueFd fd = patterned_memfd(256 * kKiB, 5);
    struct Case {
        uint8_t shmid;
        uint64_t offset, len;
        int answer;
    };
    for (Case c : {Case{0, kRegionSize - 64 * kKiB, 128 * kKiB, ERANGE}, Case{0, kRegionSize, 4 * kKiB, ERANGE},
                   Case{0, 2 * kRegionSize, 4 * kKiB, ERANGE}, Case{1, 0, 4 * kKiB, ENODEV},
                   Case{255, 0, 4 * kKiB, ENODEV}}) {
        const size_t before = channel_->count(BackendRequest::kShmemMap);
        EXPECT_FALSE(shmem_map(c.shmid, fd.get(), 0, c.offset, c.len, false))
            << "shmid " << int(c.shmid) << " offset " << c.offset << " len " << c.len;
        ASSERT_EQ(channel_->count(BackendRequest::kShmemMap), before + 1);
        ChannelRecord rec = last(BackendRequest::kShmemMap);
        ASSERT_TRUE(rec.answer.has_value());
        EXPECT_EQ(*rec.answer, static_cast<uint64_t>(c.answer));
    }
    // Ranges the back-end itself must not send: empty, or wrapping around.
    const size_t before = channel_->count(BackendRequest::kShmemMap);
    EXPECT_FALSE(shmem_map(0, fd.get(), 0, 0, 0, false));
    EXPECT_FALSE(shmem_map(0, fd.get(), 0, UINT64_MAX - 4095, 8192, false));
    EXPECT_FALSE(shmem_map(0, fd.get(), UINT64_MAX - 4095, 0, 8192, false));
    EXPECT_EQ(channel_->count(BackendRequest::kShmemMap), before);
    EXPECT_TRUE(regions_->mappings(0).empty());
    EXPECT_TRUE(reserved(kRegionSize - 4096));
}

TEST_F(ShmemChannelTest, UnmapThenMapAgain) {
    UniqueFd a = patterned_memfd(64 * kKiB, 6), b = patterned_memfd(64 * kKiB, 7);
    ASSERT_OK(shmem_map(0, a.get(), 0, 512 * kKiB, 64 * kKiB, true));
    EXPECT_EQ(first_difference(region_bytes(512 * kKiB, 64 * kKiB), pattern(6, 0, 64 * kKiB)), -1);

    ASSERT_OK(shmem_unmap(0, 512 * kKiB, 64 * kKiB));
    ChannelRecord r = last(BackendRequest::kShmemUnmap);
    EXPECT_EQ(r.fds, 0u);
    ASSERT_TRUE(r.answer.has_value());
    EXPECT_EQ(*r.answer, 0u);
    EXPECT_EQ(payload_of(r).shm_offset, 512 * kKiB);
    EXPECT_EQ(payload_of(r).len, 64 * kKiB);
    EXPECT_TRUE(reserved(512 * kKiB));
    EXPECT_FALSE(kernel_can_read(region(512 * kKiB), 1));
    EXPECT_TRUE(regions_->mappings(0).empty());

    // Unmapping what is not mapped is refused.
    EXPECT_FALSE(shmem_unmap(0, 512 * kKiB, 64 * kKiB));
    EXPECT_EQ(last(BackendRequest::kShmemUnmap).answer.value_or(0), static_cast<uint64_t>(ENOENT));
    EXPECT_FALSE(shmem_unmap(3, 0, 64 * kKiB));

    ASSERT_OK(shmem_map(0, b.get(), 0, 512 * kKiB, 64 * kKiB, false));
    EXPECT_EQ(first_difference(region_bytes(512 * kKiB, 64 * kKiB), pattern(7, 0, 64 * kKiB)), -1);
    EXPECT_EQ(page_protection(region(512 * kKiB)), "r--s");
}

TEST_F(ShmemChannelTest, SilentFrontEndFailsTheMapWithinTheBound) {
    UniqueFd fd = patterned_memfd(64 * kKiB, 8);
    channel_->set_policy(BackendRequest::kShmemMap, ChannelPolicy::kIgnore);
    const auto t0 = Clock::now();
    auto r = shmem_map(0, fd.get(), 0, 0, 64 * kKiB, false);
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    EXPECT_FALSE(r) << "shmem_map succeeded without an answer";
    std::printf("[ timing   ] shmem_map with no answer failed after %.3f s\n", secs);
    EXPECT_GE(secs, 1.5);
    EXPECT_LE(secs, 4.0);
    ASSERT_EQ(channel_->count(BackendRequest::kShmemMap), 1u);

    // The session goes on: a front-end that answers again is served.
    channel_->set_policy(BackendRequest::kShmemMap, ChannelPolicy::kAnswer);
    UniqueFd other = patterned_memfd(64 * kKiB, 9);
    ASSERT_OK(shmem_map(0, other.get(), 0, 256 * kKiB, 64 * kKiB, false));
    EXPECT_EQ(first_difference(region_bytes(256 * kKiB, 64 * kKiB), pattern(9, 0, 64 * kKiB)), -1);
    Message reply;
    ASSERT_OK_AND_ASSIGN(reply, client_->call(vu::Request::kGetShmemConfig));
    EXPECT_EQ(reply.payload.size(), sizeof(vu::ShmemConfig));
}

// A front-end that answers after the back-end gave up: the late answer must
// not be taken for the answer to the next request.
// Disabled: the worker reads the next answer from the channel as it comes,
// so the stale one answers the next request and every later answer is one
// request behind.
TEST_F(ShmemChannelTest, LateAnswerIsNotTakenForTheNextRequest) {
    UniqueFd fd = patterned_memfd(128 * kKiB, 12);
    channel_->set_policy(BackendRequest::kShmemMap, ChannelPolicy::kHold);
    EXPECT_FALSE(shmem_map(0, fd.get(), 0, 0, 64 * kKiB, false)) << "succeeded without an answer";
    // Now the front-end maps it and says so, too late.
    channel_->set_policy(BackendRequest::kShmemMap, ChannelPolicy::kAnswer);
    channel_->release();
    ASSERT_TRUE(channel_->wait_handled(BackendRequest::kShmemMap, 1, 5000));
    ASSERT_EQ(regions_->mappings(0).size(), 1u);

    // Overlaps what the front-end mapped: refused with EEXIST.
    EXPECT_FALSE(shmem_map(0, fd.get(), 0, 32 * kKiB, 64 * kKiB, false))
        << "the late answer to the first request was taken for this one";
    EXPECT_EQ(last(BackendRequest::kShmemMap).answer.value_or(0), static_cast<uint64_t>(EEXIST));
    // Valid: mapped and answered 0.
    EXPECT_TRUE(shmem_map(0, fd.get(), 64 * kKiB, 256 * kKiB, 64 * kKiB, false))
        << "the answer to the refused request was taken for this one";
    EXPECT_EQ(last(BackendRequest::kShmemMap).answer.value_or(1), 0u);
}

// The kernel's per-process mapping limit, reached on purpose: mmap fails
// with ENOMEM and the front-end says so.
TEST_F(ShmemChannelTest, MmapFailureIsAnsweredWithItsErrno) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "a sanitizer runtime needs mappings of its own while the limit is reached";
#endif
    long max_maps = 0;
    std::ifstream("/proc/sys/vm/max_map_count") >> max_maps;
    if (max_maps <= 0 || max_maps > 1'000'000) GTEST_SKIP() << "vm.max_map_count is " << max_maps;
    UniqueFd fd = patterned_memfd(64 * kKiB, 10);

    // A reservation split into one mapping per page until the kernel refuses more.
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t pages = 2 * static_cast<size_t>(max_maps) + 8;
    void* filler = ::mmap(nullptr, pages * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ASSERT_NE(filler, MAP_FAILED);
    Mapping keep(filler, pages * page);
    int err = 0;
    for (size_t i = 1; i < pages; i += 2) {
        if (::mprotect(static_cast<uint8_t*>(filler) + i * page, page, PROT_READ) < 0) {
            err = errno;
            break;
        }
    }
    ASSERT_EQ(err, ENOMEM) << "the mapping limit was not reached";
    auto r = shmem_map(0, fd.get(), 0, 512 * kKiB, 64 * kKiB, false);
    keep.reset();  // the limit no longer applies from here

    EXPECT_FALSE(r) << "shmem_map succeeded at the mapping limit";
    ChannelRecord rec = last(BackendRequest::kShmemMap);
    ASSERT_TRUE(rec.answer.has_value());
    EXPECT_EQ(*rec.answer, static_cast<uint64_t>(ENOMEM));
    EXPECT_TRUE(reserved(512 * kKiB));
    EXPECT_TRUE(regions_->mappings(0).empty());
    ASSERT_OK(shmem_map(0, fd.get(), 0, 512 * kKiB, 64 * kKiB, false));
    EXPECT_EQ(first_difference(region_bytes(512 * kKiB, 64 * kKiB), pattern(10, 0, 64 * kKiB)), -1);
}

// Without REPLY_ACK the back-end cannot ask for an answer: the request goes
// without NEED_REPLY and the front-end maps without answering.
class ShmemNoAckTest : public ShmemChannelTest {
protected:
    bool reply_ack() const override { return false; }
};

TEST_F(ShmemNoAckTest, MapIsSentWithoutNeedReply) {
    UniqueFd fd = patterned_memfd(64 * kKiB, 11);
    ASSERT_OK(shmem_map(0, fd.get(), 0, 0, 64 * kKiB, true));
    ASSERT_TRUE(channel_->wait_handled(BackendRequest::kShmemMap, 1, 5000));
    ChannelRecord r = last(BackendRequest::kShmemMap);
    EXPECT_EQ(r.flags, vu::kVersion);
    EXPECT_FALSE(r.answer.has_value());
    EXPECT_EQ(r.verdict, 0u);
    EXPECT_EQ(first_difference(region_bytes(0, 64 * kKiB), pattern(11, 0, 64 * kKiB)), -1);
}

}  // namespace
}  // namespace xenvhost::component
