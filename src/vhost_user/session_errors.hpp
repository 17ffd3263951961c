#pragma once
// The two ways a handler of the back-end session says no: a refusal (a valid
// message this back-end will not act on; the connection stays) and a protocol
// violation (the connection is closed). BackendSession::handle reacts to them.

#include "base/error.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

namespace xenvhost::vhost_user {

template <typename... Args>
std::unexpected<Error> refuse(fmt::format_string<Args...> f, Args&&... args) {
    return fail_as(ErrorKind::kPolicy, f, std::forward<Args>(args)...);
}

template <typename... Args>
std::unexpected<Error> violation(fmt::format_string<Args...> f, Args&&... args) {
    return fail_as(ErrorKind::kProtocol, f, std::forward<Args>(args)...);
}

// A fixed-size layout at `p`, which the caller has checked is in the payload.
template <typename T>
T read_at(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// A fixed-size payload, whose size the message table has checked already.
template <typename T>
T read_payload(const std::vector<uint8_t>& payload) {
    T v;
    std::memcpy(&v, payload.data(), sizeof v);
    return v;
}

}  // namespace xenvhost::vhost_user
