// Inflight areas and dirty-log messages a back-end must refuse, and
// repeated GET_INFLIGHT_FD that must not leak (§5.2 item 6).
#include "hostile_fixture.hpp"

#include "base/eventfd.hpp"

namespace xenvhost::component {
namespace {

namespace vu = vhost_user;
namespace pf = vhost_user::protocol_feature;
using Req = vu::Request;

class HostileInflight : public HostileTest {
protected:
    // A negotiated connection with INFLIGHT_SHMFD acked and a valid area set.
    Result<std::unique_ptr<BlkSession>> with_inflight() {
        SessionOptions o = default_session();
        o.inflight = true;
        return negotiated(o);
    }
};

TEST_F(HostileInflight, RepeatedGetInflightFdDoesNotLeak) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, with_inflight());
    if (!s->has_inflight_area()) {
        ASSERT_FALSE(is_worker());
        GTEST_SKIP() << "no INFLIGHT_SHMFD";
    }
    for (int i = 0; i < 10; ++i) ASSERT_OK(s->client().get_inflight_fd(1, 128));
    // A round trip: the back-end finished with the last reply's fd.
    ASSERT_OK(s->client().get_features());
    int before;
    ASSERT_OK_AND_ASSIGN(before, backend_->fd_count());
    for (int i = 0; i < 2000; ++i) {
        auto a = s->client().get_inflight_fd(1, 128);
        ASSERT_TRUE(a) << "GET_INFLIGHT_FD " << i << ": " << a.error().message;
    }
    ASSERT_OK(s->client().get_features());
    int after;
    ASSERT_OK_AND_ASSIGN(after, backend_->fd_count());
    EXPECT_LE(after, before) << "2000 GET_INFLIGHT_FD left " << after - before << " more fds open";
    s.reset();
    expect_alive("repeated GET_INFLIGHT_FD");
}

TEST_F(HostileInflight, BogusSetInflightFd) {
    {
        std::unique_ptr<BlkSession> probe;
        ASSERT_OK_AND_ASSIGN(probe, with_inflight());
        if (!probe->has_inflight_area()) {
            ASSERT_FALSE(is_worker());
            GTEST_SKIP() << "no INFLIGHT_SHMFD";
        }
    }
    struct Case {
        const char* name;
        std::function<void(vu::Inflight&, int&, std::vector<UniqueFd>&)> mutate;
    };
    std::vector<Case> cases = {
        {"mmap_size 1 TiB", [](auto& m, auto&, auto&) { m.mmap_size = 1ull << 40; }},
        {"mmap_size 0 with an fd", [](auto& m, auto&, auto&) { m.mmap_size = 0; }},
        {"num_queues 0", [](auto& m, auto&, auto&) { m.num_queues = 0; }},
        {"num_queues 1000", [](auto& m, auto&, auto&) { m.num_queues = 1000; }},
        {"queue_size 0", [](auto& m, auto&, auto&) { m.queue_size = 0; }},
        {"queue_size 3", [](auto& m, auto&, auto&) { m.queue_size = 3; }},
        {"offset not page aligned", [](auto& m, auto&, auto&) { m.mmap_offset = 12; }},
        {"offset + size overflow", [](auto& m, auto&, auto&) { m.mmap_offset = ~0ull - 0xfff; }},
        {"fd smaller than offset + size",
         [](auto&, auto& fd, auto& own) {
             own.push_back(std::move(*make_memfd("tiny", 4096)));
             fd = own.back().get();
         }},
        {"an eventfd as the area",
         [](auto&, auto& fd, auto& own) {
             own.push_back(std::move(*make_eventfd()));
             fd = own.back().get();
         }},
        {"no fd", [](auto&, auto& fd, auto&) { fd = -1; }},
    };
    for (auto& k : cases) {
        std::unique_ptr<BlkSession> s;
        ASSERT_OK_AND_ASSIGN(s, with_inflight());
        InflightArea a;
        ASSERT_OK_AND_ASSIGN(a, s->client().get_inflight_fd(2, 128));
        vu::Inflight m{a.mmap_size, a.mmap_offset, a.num_queues, a.queue_size, {}};
        int fd = a.fd.get();
        std::vector<UniqueFd> own;
        k.mutate(m, fd, own);
        std::vector<int> fds;
        if (fd >= 0) fds.push_back(fd);
        Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(Req::kSetInflightFd),
                                      bytes_of(m), fds);
        EXPECT_TRUE(rejected(v)) << "SET_INFLIGHT_FD, " << k.name << ": " << verdict_name(v);
        s.reset();
        expect_alive(k.name);
    }
}

TEST_F(HostileInflight, DirtyLogWithoutLogShmfd) {
    std::unique_ptr<BlkSession> s;
    ASSERT_OK_AND_ASSIGN(s, negotiated());
    if (s->offered_protocol_features() & vu::bit(pf::kLogShmfd)) GTEST_SKIP() << "LOG_SHMFD offered";
    auto fd = make_memfd("log", 1 << 20);
    ASSERT_TRUE(fd);
    int fds[] = {fd->get()};
    vu::Log log{~0ull - 0xfff, 0x2000};  // offset + size overflows too
    Verdict v = send_and_classify(s->client(), static_cast<uint32_t>(Req::kSetLogBase),
                                  bytes_of(log), fds);
    EXPECT_TRUE(rejected(v)) << "SET_LOG_BASE without LOG_SHMFD: " << verdict_name(v);
    s.reset();
    ASSERT_OK_AND_ASSIGN(s, negotiated());
    uint64_t zero = 0;
    v = send_and_classify(s->client(), static_cast<uint32_t>(Req::kSetLogFd), bytes_of(zero), fds);
    EXPECT_TRUE(rejected(v)) << "SET_LOG_FD without LOG_SHMFD: " << verdict_name(v);
    s.reset();
    expect_alive("dirty log without LOG_SHMFD");
}

}  // namespace
}  // namespace xenvhost::component
