#pragma once
// Warnings about what a guest did wrong, bounded: a guest that repeats a bad
// access in a loop must not flood the log. The first kBudget warnings of a
// device go out at warn level, later ones at debug level only.

#include "base/log.hpp"

#include <fmt/core.h>

#include <string>

namespace xenvhost::transport {

class GuestLog {
public:
    static constexpr unsigned kBudget = 32;

    explicit GuestLog(std::string who) : who_(std::move(who)) {}

    template <typename... Args>
    void warn(fmt::format_string<Args...> f, Args&&... args) {
        emit(fmt::format(f, std::forward<Args>(args)...));
    }
    const std::string& who() const { return who_; }

private:
    void emit(const std::string& message);

    std::string who_;
    unsigned spent_ = 0;
};

}  // namespace xenvhost::transport
