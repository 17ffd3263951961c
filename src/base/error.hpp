#pragma once
// Error values for std::expected: a readable reason and, where one exists, an errno.

#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>

namespace xenvhost {

struct Error {
    std::string message;
    int err = 0;  // errno, 0 if not from a syscall
};

template <typename T = void>
using Result = std::expected<T, Error>;

template <typename... Args>
std::unexpected<Error> fail(fmt::format_string<Args...> f, Args&&... args) {
    return std::unexpected(Error{fmt::format(f, std::forward<Args>(args)...), 0});
}

// For a failed syscall: appends strerror(errno).
template <typename... Args>
std::unexpected<Error> fail_errno(fmt::format_string<Args...> f, Args&&... args) {
    int e = errno;
    return std::unexpected(
        Error{fmt::format("{}: {}", fmt::format(f, std::forward<Args>(args)...), std::strerror(e)), e});
}

}  // namespace xenvhost
