#pragma once
// The back-end request channel (BACKEND_REQ): a socketpair whose other end
// goes to the back-end with SET_BACKEND_REQ_FD, watched on the loop. The
// back-end announces config changes here (and may signal calls in-band). A
// malformed message closes the channel only: the device keeps working, and
// the next connection gets a new channel.

#include "base/error.hpp"
#include "event/event_loop.hpp"
#include "frontend/request_client.hpp"
#include "vhost_user/connection.hpp"

#include <cstdint>
#include <functional>
#include <memory>

namespace xenvhost::vhost_frontend {

class BackendChannel {
public:
    struct Handlers {
        std::function<void()> config_changed;
        std::function<void(uint16_t)> call;  // VRING_CALL in-band
    };
    // Makes the pair and hands the back-end its end.
    static Result<std::unique_ptr<BackendChannel>> open(event::EventLoop& loop, RequestClient& client,
                                                        bool reply_ack, int timeout_ms, Handlers handlers);
    ~BackendChannel();
    BackendChannel(const BackendChannel&) = delete;
    BackendChannel& operator=(const BackendChannel&) = delete;

    bool closed() const { return closed_; }

private:
    BackendChannel(event::EventLoop& loop, vhost_user::Connection conn, bool reply_ack, Handlers h)
        : loop_(loop), conn_(std::move(conn)), reply_ack_(reply_ack), handlers_(std::move(h)) {}
    void on_readable();
    // Acts on one request; the result is what an ack reports.
    Result<> handle(const vhost_user::Message& m);
    void close(const Error& why);

    event::EventLoop& loop_;
    vhost_user::Connection conn_;
    bool reply_ack_;
    Handlers handlers_;
    bool closed_ = false;
};

}  // namespace xenvhost::vhost_frontend
