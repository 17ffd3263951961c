#pragma once
// The front-end's end of the back-end request channel (SET_BACKEND_REQ_FD):
// a socketpair whose other end is handed to the back-end, and a reader thread
// that answers what the back-end asks (CONFIG_CHANGE_MSG, SHMEM_MAP/UNMAP,
// IOTLB MISS) through handlers the session installs. Every request is
// recorded with what it was answered, so tests see what the back-end sent.
// A request kind can be held (recorded, then left waiting until release())
// or ignored (never answered), to play a slow or dead front-end.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "frontend/connection.hpp"
#include "vhost_user/messages.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace xenvhost::frontend {

using vhost_user::BackendRequest;

enum class ChannelPolicy {
    kAnswer,  // handle at once; answer when the back-end set NEED_REPLY
    kHold,    // record, then wait for release() before handling
    kIgnore,  // record and never answer
};

struct ChannelRecord {
    using Clock = std::chrono::steady_clock;
    uint32_t request = 0;
    uint32_t flags = 0;
    std::vector<uint8_t> payload;
    size_t fds = 0;
    bool handled = false;
    uint64_t verdict = 0;            // the handler's result (0 = success)
    std::optional<uint64_t> answer;  // the u64 sent back, if one was
    Clock::time_point received{}, done{};
};

class BackendChannel {
public:
    // Handles one request (its fds owned by `msg`); returns the verdict, 0
    // for success, else an errno-like value.
    using Handler = std::function<uint64_t(Message& msg)>;

    static Result<std::unique_ptr<BackendChannel>> create();
    ~BackendChannel();
    BackendChannel(const BackendChannel&) = delete;
    BackendChannel& operator=(const BackendChannel&) = delete;

    // The back-end's end, to send with SET_BACKEND_REQ_FD; close our copy
    // once sent, so that a back-end closing its end is seen as EOF.
    int backend_end() const { return backend_end_.get(); }
    void close_backend_end() { backend_end_.reset(); }

    void on(BackendRequest id, Handler handler);
    void set_policy(BackendRequest id, ChannelPolicy policy);
    // Lets every request held so far go on (handled with the policy then in
    // force: kHold counts as kAnswer for them).
    void release();

    Result<void> start();
    void stop();

    std::vector<ChannelRecord> records() const;
    size_t count(BackendRequest id) const;
    // Waits until `n` requests of kind `id` arrived; false on timeout.
    bool wait_count(BackendRequest id, size_t n, int timeout_ms) const;
    // Waits until `n` requests of kind `id` were handled (answered or not).
    bool wait_handled(BackendRequest id, size_t n, int timeout_ms) const;
    // Protocol violations the back-end committed on the channel.
    std::vector<std::string> errors() const;
    // The back-end closed its end.
    bool peer_closed() const;

private:
    BackendChannel() = default;
    void run();
    void process(Message& msg, size_t record);
    ChannelPolicy policy_of(uint32_t id) const;  // mutex_ held

    Connection conn_;
    UniqueFd backend_end_;
    UniqueFd stop_fd_;
    std::thread thread_;

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::map<uint32_t, Handler> handlers_;
    std::map<uint32_t, ChannelPolicy> policies_;
    std::vector<ChannelRecord> records_;
    std::vector<std::string> errors_;
    uint64_t release_generation_ = 0;
    bool stopping_ = false;
    bool peer_closed_ = false;
};

const char* backend_request_name(uint32_t id);

}  // namespace xenvhost::frontend
