#include "base/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

namespace xenvhost::log {
namespace {
std::atomic<Level> g_level{Level::kInfo};
std::mutex g_mutex;
std::string g_tag = "xenvhost";
constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
}  // namespace

void set_level(Level l) { g_level.store(l, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }

void set_tag(std::string_view tag) {
    std::lock_guard lock(g_mutex);
    g_tag = tag;
}

bool parse_level(std::string_view text, Level& out) {
    for (int i = 0; i < 4; ++i) {
        if (text == kNames[i]) {
            out = static_cast<Level>(i);
            return true;
        }
    }
    return false;
}

void write(Level l, std::string_view message) {
    std::string line;
    {
        std::lock_guard lock(g_mutex);
        line = fmt::format("{}: {}: {}\n", g_tag, kNames[static_cast<int>(l)], message);
    }
    // One write() per line so concurrent processes and threads do not interleave.
    (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace xenvhost::log
