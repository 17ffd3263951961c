#pragma once
// The front-end's side of one vhost-user connection: a request goes out and,
// where the protocol has one, its reply is awaited and checked before anyone
// looks at it. The back-end is untrusted: a reply with the wrong id, flags,
// size or fds is a kProtocol error, a silent back-end a kProtocol error after
// the socket timeout, a closed socket kPeerGone. Either way the caller drops
// the connection; nothing here aborts. Blocking, on the loop thread: every
// exchange is bounded by the timeout.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "vhost_user/connection.hpp"
#include "vhost_user/messages.hpp"

#include <cstdint>
#include <span>
#include <string>

namespace xenvhost::vhost_frontend {

// Bytes of a trivially copyable payload.
template <typename T>
std::span<const uint8_t> bytes_of(const T& v) {
    return {reinterpret_cast<const uint8_t*>(&v), sizeof v};
}

// What a reply may look like.
struct ReplyShape {
    size_t min_size = 0;
    size_t max_size = 0;
    size_t fds = 0;  // at most this many
};

class RequestClient {
public:
    // Connects to a listening back-end; fails (kPeerGone) if nobody listens.
    static Result<RequestClient> connect(const std::string& socket_path, int timeout_ms);
    // Over an already connected socket (tests use a socketpair).
    static Result<RequestClient> adopt(UniqueFd sock, int timeout_ms);

    int fd() const { return conn_.fd(); }
    // Once REPLY_ACK is negotiated, every request without a reply body asks
    // for an acknowledgement, so a refusal is seen where it happened.
    void set_reply_ack(bool on) { reply_ack_ = on; }

    // A request without a reply body.
    Result<> send(vhost_user::Request id, std::span<const uint8_t> payload = {}, std::span<const int> fds = {});
    Result<> send_u64(vhost_user::Request id, uint64_t value) { return send(id, bytes_of(value)); }
    // A request with a reply body shaped like `shape`.
    Result<vhost_user::Message> call(vhost_user::Request id, std::span<const uint8_t> payload, ReplyShape shape);
    Result<uint64_t> get_u64(vhost_user::Request id);

private:
    explicit RequestClient(UniqueFd sock) : conn_(std::move(sock)) {}
    Result<> write(vhost_user::Request id, uint32_t flags, std::span<const uint8_t> payload, std::span<const int> fds);
    Result<vhost_user::Message> await_reply(vhost_user::Request id, ReplyShape shape);

    vhost_user::Connection conn_;
    bool reply_ack_ = false;
};

// Errors after which the connection cannot be trusted any more.
inline bool connection_lost(const Error& e) {
    return e.kind == ErrorKind::kProtocol || e.kind == ErrorKind::kPeerGone;
}

}  // namespace xenvhost::vhost_frontend
