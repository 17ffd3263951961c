#pragma once
// Fixture for hostile front-end and guest cases. Each case runs on its own
// connection; a case passes when the back-end refuses cleanly (a failure
// ack, the connection closed, or an error status for guest-side cases),
// stays alive, and afterwards serves a new front-end with verified I/O while
// holding exactly as many fds as before the case.

#include "fixture.hpp"

#include <functional>
#include <string>
#include <vector>

namespace xenvhost::component {

enum class Verdict {
    kAccepted,  // the back-end took it (0 ack, or a normal reply)
    kRefused,   // non-zero ack
    kClosed,    // the back-end closed the connection
    kTimedOut,  // nothing came back
    kError,     // anything else (bad reply)
};
const char* verdict_name(Verdict v);
bool rejected(Verdict v);
Verdict verdict_of(const Result<void>& r);

// One step of a message sequence, named for failure messages.
struct Step {
    std::string name;
    std::function<Result<void>()> run;
};

// What happened to a hand-made guest request.
struct GuestOutcome {
    bool completed = false;   // its head came back in the used ring
    bool closed = false;      // the back-end dropped the connection
    uint8_t status = kStatusUnwritten;
    uint32_t used_len = 0;
    std::string error;        // the front-end saw a malformed used ring
    bool queue_stopped = false;  // the worker logged that it stopped the queue meanwhile
};

class HostileTest : public BackendTest {
protected:
    void SetUp() override;
    void TearDown() override;

    // Connected, features and protocol features (REPLY_ACK) negotiated,
    // memory table sent, rings allocated but not configured.
    Result<std::unique_ptr<BlkSession>> negotiated(SessionOptions o = default_session());

    // Sends one message (NEED_REPLY when acks are on) and classifies the
    // answer. `reply_body`: the message has a reply of its own (GET_*),
    // whose only clean refusal is closing the connection.
    Verdict send_and_classify(VhostClient& c, uint32_t request, std::span<const uint8_t> payload,
                              std::span<const int> fds = {}, bool reply_body = false,
                              uint32_t flags = vhost_user::kVersion);
    // Runs steps in order until one is rejected; the sequence as a whole
    // must be rejected.
    void expect_sequence_rejected(const std::string& what, const std::vector<Step>& steps);
    // The ring setup steps of `q` (NUM, BASE, ADDR, KICK, CALL, ENABLE),
    // with hooks to replace the size and the address payload.
    std::vector<Step> ring_steps(BlkSession& s, uint16_t index, uint32_t num,
                                 const vhost_user::VringAddr& addr);
    // Checks the back-end survived a case (alive, answers a new front-end).
    void expect_alive(const std::string& what);

    // Publishes a hand-written chain, kicks, waits up to `timeout_ms`.
    GuestOutcome run_raw(BlkSession& s, uint16_t head, uint16_t count, uint32_t writable,
                         std::optional<uint64_t> status_gpa, int timeout_ms = 1000);
    // A guest fault (a broken chain, a buffer outside guest memory): the
    // request never completes and the worker stops that queue (README, "How
    // it is built"). qemu-storage-daemon may instead complete it with an error.
    void expect_queue_stopped(const std::string& what, const GuestOutcome& o);
    // A bad block request in a well-formed chain: completed with an error
    // status; the queue runs on.
    void expect_request_failed(const std::string& what, const GuestOutcome& o);

    // How often the back-end's log says it stopped a queue for a guest error.
    size_t queue_stops() const;
    static constexpr const char* kQueueStopped = "guest error, queue stopped";

    int baseline_fds_ = -1;
};

std::vector<uint8_t> to_bytes(const void* p, size_t n);

}  // namespace xenvhost::component
