#include "proc.hpp"

#include "base/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cerrno>

namespace xenvhost::bench {

namespace {

// The whole of a small /proc file (one read: the kernel builds it at once).
Result<std::string> read_small_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open {}", path);
    std::string text(4096, '\0');
    ssize_t n;
    do n = ::read(fd.get(), text.data(), text.size());
    while (n < 0 && errno == EINTR);
    if (n < 0) return fail_errno("read {}", path);
    text.resize(static_cast<size_t>(n));
    return text;
}

// The next space-separated word of `rest`, removed from it.
std::string_view next_word(std::string_view& rest) {
    size_t b = rest.find_first_not_of(' ');
    if (b == std::string_view::npos) return rest = {};
    rest.remove_prefix(b);
    size_t e = rest.find_first_of(" \n");
    std::string_view w = rest.substr(0, e);
    rest.remove_prefix(e == std::string_view::npos ? rest.size() : e);
    return w;
}

Result<uint64_t> number(std::string_view w, const char* what) {
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), v);
    if (ec != std::errc() || p != w.data() + w.size()) return fail("{}: '{}' is not a number", what, w);
    return v;
}

}  // namespace

Result<CpuTicks> parse_proc_stat(std::string_view text) {
    size_t close = text.rfind(')');
    if (close == std::string_view::npos) return fail("/proc/PID/stat: no ')' after the command name");
    std::string_view rest = text.substr(close + 1);
    // Fields 3 (state) to 13 come before utime (14) and stime (15).
    for (int field = 3; field <= 13; ++field)
        if (next_word(rest).empty()) return fail("/proc/PID/stat: ends at field {}", field);
    auto user = number(next_word(rest), "/proc/PID/stat utime");
    if (!user) return std::unexpected(user.error());
    auto system = number(next_word(rest), "/proc/PID/stat stime");
    if (!system) return std::unexpected(system.error());
    return CpuTicks{*user, *system};
}

Result<CpuTicks> read_process_cpu(pid_t pid) {
    auto text = read_small_file("/proc/" + std::to_string(pid) + "/stat");
    if (!text) return std::unexpected(text.error());
    return parse_proc_stat(*text);
}

double ticks_to_seconds(uint64_t ticks) {
    static const long per_second = ::sysconf(_SC_CLK_TCK);
    return static_cast<double>(ticks) / static_cast<double>(per_second > 0 ? per_second : 100);
}

Result<ProcessCredentials> parse_proc_status(std::string_view text) {
    // The first number after "Name:" at the start of a line (the leading
    // newline lets the first line match too).
    const std::string lines = "\n" + std::string(text);
    auto field = [&](std::string_view name) -> Result<uint64_t> {
        const std::string key = "\n" + std::string(name) + ":";
        const size_t at = lines.find(key);
        if (at == std::string::npos) return fail("/proc/PID/status: no {} line", name);
        std::string_view rest = std::string_view(lines).substr(at + key.size());
        const size_t b = rest.find_first_not_of(" \t");
        if (b == std::string_view::npos) return fail("/proc/PID/status: {} is empty", name);
        rest.remove_prefix(b);
        return number(rest.substr(0, rest.find_first_of(" \t\n")), name.data());
    };
    auto uid = field("Uid"), gid = field("Gid"), nnp = field("NoNewPrivs"), seccomp = field("Seccomp");
    for (const auto* r : {&uid, &gid, &nnp, &seccomp})
        if (!*r) return std::unexpected(r->error());
    if (*uid > UINT32_MAX || *gid > UINT32_MAX) return fail("/proc/PID/status: uid or gid out of range");
    return ProcessCredentials{static_cast<uint32_t>(*uid), static_cast<uint32_t>(*gid), *nnp != 0,
                              static_cast<unsigned>(*seccomp)};
}

Result<ProcessCredentials> read_process_credentials(pid_t pid) {
    auto text = read_small_file("/proc/" + std::to_string(pid) + "/status");
    if (!text) return std::unexpected(text.error());
    return parse_proc_status(*text);
}

Result<std::string> parse_loadavg(std::string_view text) {
    std::string out;
    for (int i = 0; i < 3; ++i) {
        std::string_view w = next_word(text);
        double v = 0;
        auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), v);
        if (w.empty() || ec != std::errc() || p != w.data() + w.size())
            return fail("/proc/loadavg: '{}' is not a load average", w);
        if (i) out += ' ';
        out += w;
    }
    return out;
}

std::string host_load() {
    auto text = read_small_file("/proc/loadavg");
    if (!text) return "unknown (" + text.error().message + ")";
    auto load = parse_loadavg(*text);
    return load ? *load : "unknown (" + load.error().message + ")";
}

}  // namespace xenvhost::bench
