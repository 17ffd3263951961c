#include "control/replies.hpp"

#include "control/codec.hpp"

#include <fmt/core.h>

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace xenvhost::control {
namespace {

std::string format_device_fields(const DeviceStatus& d) {
    return fmt::format(
        "name={} socket={} connected={} mapping={} requests={} map-calls={} unmap-calls={} pages-mapped={} "
        "map-failures={} grant-access={} copy-calls={} copy-segments={} copy-failures={} last-error={}",
        encode_value(d.name), encode_value(d.socket_path), d.connected ? 1 : 0, encode_value(d.mapping), d.requests,
        d.map_calls, d.unmap_calls, d.pages_mapped, d.map_failures, encode_value(d.grant_access), d.copy_calls,
        d.copy_segments, d.copy_failures, encode_value(d.last_error.substr(0, 512)));
}

Result<DeviceStatus> parse_device_fields(std::span<const std::string_view> words) {
    auto args = parse_args(words, {"name", "socket", "connected", "mapping", "requests", "map-calls", "unmap-calls",
                                   "pages-mapped", "map-failures", "grant-access", "copy-calls", "copy-segments",
                                   "copy-failures", "last-error"});
    if (!args) return std::unexpected(args.error());
    DeviceStatus d;
    auto* name = find_arg(*args, "name");
    if (!name) return fail("device line without name=");
    if (auto r = check_name(*name); !r) return std::unexpected(r.error());
    d.name = *name;
    if (auto* v = find_arg(*args, "socket")) d.socket_path = *v;
    if (auto* v = find_arg(*args, "connected")) {
        auto f = parse_flag("connected", *v);
        if (!f) return std::unexpected(f.error());
        d.connected = *f;
    }
    if (auto* v = find_arg(*args, "mapping")) {
        if (*v != "none" && *v != "mmap" && *v != "grant" && *v != "foreign")
            return fail("mapping: '{}' is not none, mmap, grant or foreign", *v);
        d.mapping = *v;
    }
    std::pair<const char*, uint64_t*> counters[] = {{"requests", &d.requests},
                                                    {"map-calls", &d.map_calls},
                                                    {"unmap-calls", &d.unmap_calls},
                                                    {"pages-mapped", &d.pages_mapped},
                                                    {"map-failures", &d.map_failures},
                                                    {"copy-calls", &d.copy_calls},
                                                    {"copy-segments", &d.copy_segments},
                                                    {"copy-failures", &d.copy_failures}};
    for (auto [key, dst] : counters) {
        if (auto* v = find_arg(*args, key)) {
            auto n = parse_uint(key, *v, UINT64_MAX);
            if (!n) return std::unexpected(n.error());
            *dst = *n;
        }
    }
    if (auto* v = find_arg(*args, "grant-access")) {
        if (*v != "auto" && *v != "map" && *v != "per-access" && *v != "copy")
            return fail("grant-access: '{}' is not auto, map, per-access or copy", *v);
        d.grant_access = *v;
    }
    if (auto* v = find_arg(*args, "last-error")) d.last_error = *v;
    return d;
}

}  // namespace

std::string format_reply(const OkReply&) { return "ok\n"; }
std::string format_reply(const ErrorReply& e) { return "error " + sanitize_reason(e.reason) + "\n"; }
std::string format_reply(const DeviceLine& d) { return "device " + format_device_fields(d.status) + "\n"; }
std::string format_reply(const EndReply&) { return "end\n"; }
std::string format_reply(const EventLine& e) { return "event device " + format_device_fields(e.status) + "\n"; }
std::string format_reply(const Reply& reply) {
    return std::visit([](const auto& r) { return format_reply(r); }, reply);
}

Result<Reply> parse_reply(std::string_view line) {
    if (line.size() >= kMaxLine) return fail("line longer than {} bytes", kMaxLine - 1);
    if (line == "ok") return OkReply{};
    if (line == "end") return EndReply{};
    if (line.starts_with("error ")) return ErrorReply{std::string(line.substr(6))};
    if (line == "error") return ErrorReply{"unspecified error"};
    auto words = split_words(line);
    if (words[0] == "device") {
        auto d = parse_device_fields(std::span(words).subspan(1));
        if (!d) return std::unexpected(d.error());
        return DeviceLine{std::move(*d)};
    }
    if (words[0] == "event" && words.size() >= 2 && words[1] == "device") {
        auto d = parse_device_fields(std::span(words).subspan(2));
        if (!d) return std::unexpected(d.error());
        return EventLine{std::move(*d)};
    }
    return fail("unknown reply '{}'", line.substr(0, 32));
}

}  // namespace xenvhost::control
