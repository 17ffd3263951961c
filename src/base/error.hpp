#pragma once
// Error values for std::expected: a category decided where the error arises,
// a readable reason and, where one exists, the errno. Callers react to the
// category (one place per layer: fail the request, stop the queue, refuse the
// message, close the connection, exit), never to the errno.

#include <fmt/core.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>

namespace xenvhost {

enum class ErrorKind : uint8_t {
    kInternal,    // a local failure of our own resources (a syscall, an allocation, a bug)
    kGuestFault,  // the guest broke the virtio rules: a buffer outside its memory, a bad chain
    kMapFailure,  // guest memory that the guest named could not be mapped (revoked grant, missing frame)
    kPolicy,      // a well-formed request this process will not act on (wrong domid, no such handle)
    kIo,          // the backing store failed
    kProtocol,    // the peer broke its protocol: a malformed message, a bad size, a value out of range
    kPeerGone,    // the peer is gone: a closed socket, xenstored restarted or dead
};

std::string_view kind_name(ErrorKind kind);

struct Error {
    std::string message;
    int err = 0;  // errno, 0 if not from a syscall; a detail for logs, not a category
    ErrorKind kind = ErrorKind::kInternal;

    // The same error with another category, for a caller that knows better
    // what a lower layer's failure means (a socket error is the peer gone).
    Error as(ErrorKind k) const& { return Error{message, err, k}; }
    Error as(ErrorKind k) && { return Error{std::move(message), err, k}; }
};

template <typename T = void>
using Result = std::expected<T, Error>;

template <typename... Args>
std::unexpected<Error> fail_as(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
    return std::unexpected(Error{fmt::format(f, std::forward<Args>(args)...), 0, kind});
}

// For a failed syscall: appends strerror(errno).
template <typename... Args>
std::unexpected<Error> fail_errno_as(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
    int e = errno;
    return std::unexpected(
        Error{fmt::format("{}: {}", fmt::format(f, std::forward<Args>(args)...), std::strerror(e)), e, kind});
}

// The common case, an internal failure.
template <typename... Args>
std::unexpected<Error> fail(fmt::format_string<Args...> f, Args&&... args) {
    return fail_as(ErrorKind::kInternal, f, std::forward<Args>(args)...);
}

template <typename... Args>
std::unexpected<Error> fail_errno(fmt::format_string<Args...> f, Args&&... args) {
    return fail_errno_as(ErrorKind::kInternal, f, std::forward<Args>(args)...);
}

// Passes a lower layer's error on unchanged, or re-categorised.
inline std::unexpected<Error> pass(const Error& e) { return std::unexpected(e); }
inline std::unexpected<Error> pass(Error e, ErrorKind kind) { return std::unexpected(std::move(e).as(kind)); }

}  // namespace xenvhost
