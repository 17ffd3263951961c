#pragma once
// Leveled logging to stderr (journald picks it up). One line per event.

#include <fmt/core.h>

#include <string_view>

namespace xenvhost::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_level(Level level);
Level level();
// Prefix printed before every line, e.g. "xenvhost-worker[1234]".
void set_tag(std::string_view tag);
bool parse_level(std::string_view text, Level& out);
void write(Level level, std::string_view message);

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
    if (level() <= Level::kDebug) write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
    if (level() <= Level::kInfo) write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
    if (level() <= Level::kWarn) write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
    write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace xenvhost::log
