// xen-devices-check DOMID [--grant-pages N] [--rounds N]
// Runs the dom0 device-interface checks against the real hypervisor and the
// running guest DOMID; prints one PASS/FAIL line per check, exits 1 on any FAIL.

#include <fmt/core.h>

#include <charconv>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "checks.hpp"

namespace {

using namespace xenvhost::xencheck;

std::optional<uint32_t> parse_u32(std::string_view text) {
    uint32_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

int usage(std::string_view why) {
    fmt::print(stderr, "xen-devices-check: {}\nusage: xen-devices-check DOMID [--grant-pages N] [--rounds N]\n", why);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::optional<uint32_t> domid;
    uint32_t pages = 8;
    uint32_t rounds = 200;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--grant-pages" || arg == "--rounds") {
            if (i + 1 >= argc) return usage(fmt::format("{} needs a value", arg));
            auto v = parse_u32(argv[++i]);
            if (!v || *v == 0) return usage(fmt::format("{} needs a positive number, got '{}'", arg, argv[i]));
            (arg == "--rounds" ? rounds : pages) = *v;
        } else if (!domid) {
            domid = parse_u32(arg);
            if (!domid || *domid == 0) return usage(fmt::format("DOMID must be a guest's domid, got '{}'", arg));
        } else {
            return usage(fmt::format("unexpected argument '{}'", arg));
        }
    }
    if (!domid) return usage("missing DOMID");

    std::vector<std::pair<std::string, std::function<xenvhost::Result<std::string>()>>> checks{
        {"grant-self-map", [&] { return check_grant_self_map(pages, rounds); }},
        {"foreign-map", [&] { return check_foreign_map(*domid, rounds); }},
        {"evtchn-loopback", [&] { return check_evtchn_loopback(rounds); }},
    };
    int failed = 0;
    for (auto& [name, run] : checks) {
        auto result = run();
        if (result) {
            fmt::print("PASS {}: {}\n", name, *result);
        } else {
            fmt::print("FAIL {}: {}\n", name, result.error().message);
            ++failed;
        }
        std::fflush(stdout);
    }
    return failed == 0 ? 0 : 1;
}
