#include "hostile_fixture.hpp"

#include <unistd.h>

#include <cstring>

namespace xenvhost::component {

namespace vu = vhost_user;

const char* verdict_name(Verdict v) {
    switch (v) {
        case Verdict::kAccepted: return "accepted";
        case Verdict::kRefused: return "refused";
        case Verdict::kClosed: return "connection closed";
        case Verdict::kTimedOut: return "timed out";
        case Verdict::kError: return "malformed answer";
    }
    return "?";
}

bool rejected(Verdict v) { return v == Verdict::kRefused || v == Verdict::kClosed; }

Verdict verdict_of(const Result<void>& r) {
    if (r) return Verdict::kAccepted;
    if (r.error().err == EPROTO) return Verdict::kRefused;
    if (peer_closed(r.error())) return Verdict::kClosed;
    if (r.error().err == ETIMEDOUT) return Verdict::kTimedOut;
    return Verdict::kError;
}

std::vector<uint8_t> to_bytes(const void* p, size_t n) {
    auto b = static_cast<const uint8_t*>(p);
    return std::vector<uint8_t>(b, b + n);
}

void HostileTest::SetUp() {
    BackendTest::SetUp();
    if (HasFatalFailure()) return;
    // Warm up (a back-end may set up lasting state on its first front-end),
    // then take the fd count once it is stable.
    expect_serves();
    if (HasFatalFailure()) return;
    int prev = -1;
    for (int i = 0; i < 50; ++i) {
        auto n = backend_->fd_count();
        ASSERT_TRUE(n) << n.error().message;
        if (*n == prev) break;
        prev = *n;
        ::usleep(100000);
    }
    baseline_fds_ = prev;
}

void HostileTest::TearDown() {
    if (backend_ && backend_->alive() && baseline_fds_ >= 0) {
        expect_serves();
        int last = -1;
        EXPECT_TRUE(backend_->wait_fd_count(baseline_fds_, 3000, &last))
            << "fd leak: the back-end held " << baseline_fds_ << " fds before the case and "
            << last << " after";
    }
    BackendTest::TearDown();
}

Result<std::unique_ptr<BlkSession>> HostileTest::negotiated(SessionOptions o) {
    o.need_reply_all = true;
    auto s = BlkSession::connect(socket_, o);
    if (!s) return s;
    if (!(*s)->client().reply_ack_negotiated()) return fail("REPLY_ACK not negotiated");
    if (auto r = (*s)->prepare(); !r) return std::unexpected(r.error());
    return s;
}

Verdict HostileTest::send_and_classify(VhostClient& c, uint32_t request,
                                       std::span<const uint8_t> payload, std::span<const int> fds,
                                       bool reply_body, uint32_t flags) {
    bool ack = c.reply_ack_negotiated() && !reply_body;
    if (ack) flags |= vu::kFlagNeedReply;
    if (auto r = c.connection().send(request, flags, payload, fds); !r)
        return peer_closed(r.error()) ? Verdict::kClosed : Verdict::kError;
    if (!ack && !reply_body) {
        // No verdict of its own: probe with a message that always answers.
        if (auto r = c.connection().send(static_cast<uint32_t>(vu::Request::kGetFeatures),
                                         vu::kVersion, {});
            !r)
            return peer_closed(r.error()) ? Verdict::kClosed : Verdict::kError;
    }
    auto m = c.connection().receive(3000);
    if (!m) {
        if (peer_closed(m.error())) return Verdict::kClosed;
        if (m.error().err == ETIMEDOUT) return Verdict::kTimedOut;
        return Verdict::kError;
    }
    if (m->header.flags != vu::kReplyFlags) return Verdict::kError;
    if (!ack) return Verdict::kAccepted;
    if (m->header.request != request || m->payload.size() != 8) return Verdict::kError;
    uint64_t v;
    std::memcpy(&v, m->payload.data(), 8);
    return v ? Verdict::kRefused : Verdict::kAccepted;
}

void HostileTest::expect_sequence_rejected(const std::string& what, const std::vector<Step>& steps) {
    for (const auto& step : steps) {
        Verdict v = verdict_of(step.run());
        if (rejected(v)) return;
        if (v != Verdict::kAccepted) {
            ADD_FAILURE() << what << ": " << step.name << " " << verdict_name(v)
                          << " instead of a clean refusal";
            return;
        }
    }
    ADD_FAILURE() << what << ": the back-end accepted every step";
}

std::vector<Step> HostileTest::ring_steps(BlkSession& s, uint16_t index, uint32_t num,
                                          const vu::VringAddr& addr) {
    VhostClient& c = s.client();
    SplitQueue& q = s.queue(index);
    return {
        {"SET_VRING_NUM", [&c, index, num] { return c.set_vring_num(index, num); }},
        {"SET_VRING_BASE", [&c, index] { return c.set_vring_base(index, 0); }},
        {"SET_VRING_ADDR", [&c, addr] { return c.set_vring_addr(addr); }},
        {"SET_VRING_KICK", [&c, &q, index] { return c.set_vring_kick(index, q.kick_fd()); }},
        {"SET_VRING_CALL", [&c, &q, index] { return c.set_vring_call(index, q.call_fd()); }},
        {"SET_VRING_ENABLE", [&c, index] { return c.set_vring_enable(index, true); }},
        // A kick on whatever was accepted, then a probe of the connection.
        {"kick", [&c, &q] {
             q.kick();
             auto f = c.get_features();
             if (!f) return Result<void>(std::unexpected(f.error()));
             return Result<void>();
         }},
    };
}

void HostileTest::expect_alive(const std::string& what) {
    ASSERT_TRUE(backend_->alive()) << "back-end died after: " << what << " ("
                                   << describe_wait_status(backend_->wait_status()) << ")";
}

GuestOutcome HostileTest::run_raw(BlkSession& s, uint16_t head, uint16_t count, uint32_t writable,
                                  std::optional<uint64_t> status_gpa, int timeout_ms) {
    SplitQueue& q = s.queue(0);
    if (status_gpa) {
        uint8_t unwritten = kStatusUnwritten;
        (void)s.memory().write(*status_gpa, {&unwritten, 1});
    }
    const size_t stops_before = queue_stops();
    q.raw_submit(head, count, writable);
    q.publish();
    q.kick();
    GuestOutcome o;
    auto u = q.wait_used(timeout_ms);
    if (!u) {
        o.error = u.error().message;
        return o;
    }
    if (*u) {
        o.completed = true;
        o.used_len = (*u)->len;
        if (status_gpa) (void)s.memory().read(*status_gpa, {&o.status, 1});
    }
    o.closed = s.client().connection().wait_closed(0);
    o.queue_stopped = queue_stops() > stops_before;
    return o;
}

size_t HostileTest::queue_stops() const {
    const std::string log = backend_->log_tail(size_t{1} << 24);
    size_t n = 0;
    for (size_t at = log.find(kQueueStopped); at != std::string::npos; at = log.find(kQueueStopped, at + 1)) ++n;
    return n;
}

void HostileTest::expect_queue_stopped(const std::string& what, const GuestOutcome& o) {
    EXPECT_TRUE(o.error.empty()) << what << ": " << o.error;
    EXPECT_FALSE(o.closed) << what << ": the connection was closed";
    if (is_worker()) {
        EXPECT_FALSE(o.completed) << what << ": completed (status " << int(o.status)
                                  << ") instead of stopping the queue";
        EXPECT_TRUE(o.queue_stopped) << what << ": the worker did not stop the queue";
    } else if (o.completed) {
        EXPECT_NE(o.status, VIRTIO_BLK_S_OK) << what << ": completed with status OK";
    }
    expect_alive(what);
}

void HostileTest::expect_request_failed(const std::string& what, const GuestOutcome& o) {
    EXPECT_TRUE(o.error.empty()) << what << ": " << o.error;
    EXPECT_FALSE(o.closed) << what << ": the connection was closed";
    EXPECT_TRUE(o.completed) << what << ": not completed";
    EXPECT_NE(o.status, VIRTIO_BLK_S_OK) << what << ": completed with status OK";
    EXPECT_FALSE(o.queue_stopped) << what << ": the queue was stopped";
    expect_alive(what);
}

}  // namespace xenvhost::component
