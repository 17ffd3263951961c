#pragma once
// A vhost-user front-end's end of the unix socket: one sendmsg per message
// (header, payload and SCM_RIGHTS fds together, as QEMU sends them) and
// replies read with their fds owned from the moment recvmsg returns. The raw
// calls exist so hostile tests can send bytes no well-behaved front-end would.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "vhost_user/messages.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace xenvhost::frontend {

struct Message {
    vhost_user::Header header{};
    std::vector<uint8_t> payload;
    std::vector<UniqueFd> fds;
};

// err value used in Error when the peer closed the connection.
inline constexpr int kPeerClosed = ECONNRESET;
inline bool peer_closed(const Error& e) { return e.err == kPeerClosed || e.err == EPIPE; }

class Connection {
public:
    Connection() = default;
    explicit Connection(UniqueFd fd) : fd_(std::move(fd)) {}

    // Connects to a listening unix socket; retries ENOENT/ECONNREFUSED for
    // up to `retry_ms` because a server binds before it listens.
    static Result<Connection> connect(const std::string& path, int retry_ms = 2000);

    // Header + payload + fds in one sendmsg.
    Result<void> send(uint32_t request, uint32_t flags, std::span<const uint8_t> payload,
                      std::span<const int> fds = {});
    // Arbitrary bytes with arbitrary fds, in one sendmsg.
    Result<void> send_raw(std::span<const uint8_t> bytes, std::span<const int> fds = {});
    // Closes the sending direction: the peer sees EOF after what was sent.
    Result<void> shutdown_write();

    // Reads one message (header, then `size` payload bytes). Fails with
    // err == kPeerClosed on EOF and ETIMEDOUT when nothing arrives in time.
    Result<Message> receive(int timeout_ms);

    // True once the peer has closed its end (anything it still sends is
    // read and dropped); false if it is still open after `timeout_ms`.
    bool wait_closed(int timeout_ms);

    int fd() const { return fd_.get(); }
    bool valid() const { return fd_.valid(); }
    void close() { fd_.reset(); }

private:
    Result<void> read_exact(uint8_t* dst, size_t len, int timeout_ms,
                            std::vector<UniqueFd>* fds);

    UniqueFd fd_;
};

}  // namespace xenvhost::frontend
