#pragma once
// One vhost-user stream: whole messages in (header, payload, SCM_RIGHTS fds),
// replies out. Every received fd is owned by a UniqueFd from the moment
// recvmsg returns, so any error path closes them.

#include "base/error.hpp"
#include "base/unique_fd.hpp"
#include "vhost_user/messages.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace xenvhost::vhost_user {

struct Message {
    Header header{};
    std::vector<uint8_t> payload;
    std::vector<UniqueFd> fds;
};

class Connection {
public:
    explicit Connection(UniqueFd sock) : sock_(std::move(sock)) {}

    int fd() const { return sock_.get(); }

    // Bounds how long a peer may stall in the middle of a message.
    Result<> set_timeouts(int milliseconds);

    // Receives one whole message. An orderly close before any byte gives an
    // error of kind kPeerGone; a broken message, kProtocol.
    Result<Message> receive();

    // Sends a reply to `request` with the given payload (flags exactly REPLY|VERSION).
    Result<> reply(uint32_t request, std::span<const uint8_t> payload, std::span<const int> fds = {});
    Result<> reply_u64(uint32_t request, uint64_t value);

    // Sends a request (used on the back-end request channel).
    Result<> send(const Header& hdr, std::span<const uint8_t> payload, std::span<const int> fds = {});

private:
    Result<size_t> recv_part(uint8_t* buf, size_t len, std::vector<UniqueFd>& fds, bool first);
    UniqueFd sock_;
};

}  // namespace xenvhost::vhost_user
