#pragma once
// The line protocol between xenvhostd and a worker's control socket.
// Header-only: both programs speak it and share no library above the layers.
//
// A line is at most kMaxLine bytes including its '\n'. Words are separated by
// one space. Arguments are key=value; values are percent-encoded (%XX) for
// '%', '=', and every byte outside 0x21..0x7e, so paths may hold anything.
//
//   daemon -> worker                                  worker -> daemon
//   add name=N socket=P blk-file=F [read-only=0|1]    ok | error <reason>
//       [num-queues=N] [queue-size=N] [serial=S]
//   remove name=N                                     ok | error <reason>
//   status                                            device <fields>... then end
//   ping                                              ok
//   (unsolicited, at any time between replies)        event device <fields>
//
//   <fields>: name= socket= connected=0|1 mapping=none|mmap|grant|foreign
//             requests= map-calls= unmap-calls= pages-mapped= map-failures= last-error=
//
// Replies come in request order; event lines may appear between them.

#include "base/error.hpp"
#include "worker/control_handler.hpp"
#include "worker/device_spec.hpp"

#include <fmt/core.h>

#include <charconv>
#include <initializer_list>
#include <span>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace xenvhost::control {

inline constexpr size_t kMaxLine = 4096;
inline constexpr size_t kMaxName = 64;

inline std::string encode_value(std::string_view v) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(v.size());
    for (unsigned char c : v) {
        if (c <= 0x20 || c >= 0x7f || c == '%' || c == '=') {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

inline Result<std::string> decode_value(std::string_view v) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        unsigned char c = v[i];
        if (c == '%') {
            if (i + 2 >= v.size()) return fail("truncated %-escape in '{}'", v);
            int hi = hex(v[i + 1]), lo = hex(v[i + 2]);
            if (hi < 0 || lo < 0) return fail("bad %-escape in '{}'", v);
            out += static_cast<char>(hi << 4 | lo);
            i += 2;
        } else if (c <= 0x20 || c >= 0x7f || c == '=') {
            return fail("unescaped byte 0x{:02x} in value", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

// Arguments of one line, in order; keys are unique.
using Args = std::vector<std::pair<std::string, std::string>>;

inline std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    size_t pos = 0;
    while (pos <= line.size()) {
        size_t sp = line.find(' ', pos);
        if (sp == std::string_view::npos) sp = line.size();
        words.push_back(line.substr(pos, sp - pos));
        pos = sp + 1;
    }
    return words;
}

// Parses the key=value words; `allowed` lists the keys this verb accepts.
inline Result<Args> parse_args(std::span<const std::string_view> words,
                               std::initializer_list<std::string_view> allowed) {
    Args args;
    for (auto w : words) {
        if (w.empty()) return fail("empty word (double space?)");
        size_t eq = w.find('=');
        if (eq == std::string_view::npos || eq == 0) return fail("'{}' is not key=value", w);
        std::string key(w.substr(0, eq));
        bool known = false;
        for (auto a : allowed) known = known || a == key;
        if (!known) return fail("unknown key '{}'", key);
        for (auto& [k, _] : args)
            if (k == key) return fail("duplicate key '{}'", key);
        auto value = decode_value(w.substr(eq + 1));
        if (!value) return fail("{}: {}", key, value.error().message);
        args.emplace_back(std::move(key), std::move(*value));
    }
    return args;
}

inline const std::string* find_arg(const Args& args, std::string_view key) {
    for (auto& [k, v] : args)
        if (k == key) return &v;
    return nullptr;
}

inline Result<uint64_t> parse_uint(std::string_view key, std::string_view v, uint64_t max) {
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || n > max)
        return fail("{}: '{}' is not a number in 0..{}", key, v, max);
    return n;
}

inline Result<bool> parse_flag(std::string_view key, std::string_view v) {
    if (v == "0") return false;
    if (v == "1") return true;
    return fail("{}: '{}' is not 0 or 1", key, v);
}

inline Result<> check_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxName) return fail("name must be 1..{} bytes", kMaxName);
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.';
        if (!ok) return fail("name '{}' has characters outside [A-Za-z0-9._-]", name);
    }
    return {};
}

struct AddCommand {
    worker::DeviceSpec spec;
};
struct RemoveCommand {
    std::string name;
};
struct StatusCommand {};
struct PingCommand {};
using Command = std::variant<AddCommand, RemoveCommand, StatusCommand, PingCommand>;

inline Result<Command> parse_command(std::string_view line) {
    if (line.size() >= kMaxLine) return fail("line longer than {} bytes", kMaxLine - 1);
    auto words = split_words(line);
    std::string_view verb = words[0];
    std::span<const std::string_view> rest(words.data() + 1, words.size() - 1);
    if (verb == "add") {
        auto args = parse_args(rest, {"name", "socket", "blk-file", "read-only", "num-queues", "queue-size", "serial"});
        if (!args) return std::unexpected(args.error());
        AddCommand cmd;
        auto& s = cmd.spec;
        for (auto key : {"name", "socket", "blk-file"})
            if (!find_arg(*args, key) || find_arg(*args, key)->empty()) return fail("add: missing {}=", key);
        s.name = *find_arg(*args, "name");
        if (auto r = check_name(s.name); !r) return std::unexpected(r.error());
        s.socket_path = *find_arg(*args, "socket");
        s.blk_file = *find_arg(*args, "blk-file");
        if (auto* v = find_arg(*args, "read-only")) {
            auto f = parse_flag("read-only", *v);
            if (!f) return std::unexpected(f.error());
            s.read_only = *f;
        }
        if (auto* v = find_arg(*args, "num-queues")) {
            auto n = parse_uint("num-queues", *v, UINT16_MAX);
            if (!n || *n == 0) return fail("num-queues: '{}' is not a number in 1..65535", *v);
            s.num_queues = static_cast<uint16_t>(*n);
        }
        if (auto* v = find_arg(*args, "queue-size")) {
            auto n = parse_uint("queue-size", *v, 32768);
            if (!n || *n == 0) return fail("queue-size: '{}' is not a number in 1..32768", *v);
            s.queue_size = static_cast<uint16_t>(*n);
        }
        if (auto* v = find_arg(*args, "serial")) s.serial = *v;
        return cmd;
    }
    if (verb == "remove") {
        auto args = parse_args(rest, {"name"});
        if (!args) return std::unexpected(args.error());
        auto* name = find_arg(*args, "name");
        if (!name) return fail("remove: missing name=");
        if (auto r = check_name(*name); !r) return std::unexpected(r.error());
        return RemoveCommand{*name};
    }
    if (verb == "status" || verb == "ping") {
        if (!rest.empty()) return fail("{} takes no arguments", verb);
        if (verb == "status") return StatusCommand{};
        return PingCommand{};
    }
    if (verb.empty()) return fail("empty command");
    return fail("unknown command '{}'", verb.substr(0, 32));
}

// One overload per command, so callers never build a variant temporary
// (GCC 12 warns falsely about those under -O2 with sanitizers).
inline std::string format_command(const AddCommand& a) {
    const auto& s = a.spec;
    std::string line = fmt::format("add name={} socket={} blk-file={} read-only={} num-queues={} queue-size={}",
                                   encode_value(s.name), encode_value(s.socket_path), encode_value(s.blk_file),
                                   s.read_only ? 1 : 0, s.num_queues, s.queue_size);
    if (!s.serial.empty()) line += " serial=" + encode_value(s.serial);
    return line + "\n";
}
inline std::string format_command(const RemoveCommand& r) { return "remove name=" + encode_value(r.name) + "\n"; }
inline std::string format_command(const StatusCommand&) { return "status\n"; }
inline std::string format_command(const PingCommand&) { return "ping\n"; }
inline std::string format_command(const Command& cmd) {
    return std::visit([](const auto& c) { return format_command(c); }, cmd);
}

struct OkReply {};
struct ErrorReply {
    std::string reason;
};
struct DeviceLine {
    worker::DeviceStatus status;
};
struct EndReply {};
struct EventLine {
    worker::DeviceStatus status;
};
using Reply = std::variant<OkReply, ErrorReply, DeviceLine, EndReply, EventLine>;

// Reasons are free text to the end of the line; control bytes would break framing.
inline std::string sanitize_reason(std::string_view reason) {
    std::string out(reason.substr(0, kMaxLine - 16));
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return out;
}

inline std::string format_device_fields(const worker::DeviceStatus& d) {
    return fmt::format(
        "name={} socket={} connected={} mapping={} requests={} map-calls={} unmap-calls={} pages-mapped={} "
        "map-failures={} last-error={}",
        encode_value(d.name), encode_value(d.socket_path), d.connected ? 1 : 0, encode_value(d.mapping), d.requests,
        d.map_calls, d.unmap_calls, d.pages_mapped, d.map_failures, encode_value(d.last_error.substr(0, 512)));
}

inline Result<worker::DeviceStatus> parse_device_fields(std::span<const std::string_view> words) {
    auto args = parse_args(words, {"name", "socket", "connected", "mapping", "requests", "map-calls", "unmap-calls",
                                   "pages-mapped", "map-failures", "last-error"});
    if (!args) return std::unexpected(args.error());
    worker::DeviceStatus d;
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
                                                    {"map-failures", &d.map_failures}};
    for (auto [key, dst] : counters) {
        if (auto* v = find_arg(*args, key)) {
            auto n = parse_uint(key, *v, UINT64_MAX);
            if (!n) return std::unexpected(n.error());
            *dst = *n;
        }
    }
    if (auto* v = find_arg(*args, "last-error")) d.last_error = *v;
    return d;
}

inline std::string format_reply(const OkReply&) { return "ok\n"; }
inline std::string format_reply(const ErrorReply& e) { return "error " + sanitize_reason(e.reason) + "\n"; }
inline std::string format_reply(const DeviceLine& d) { return "device " + format_device_fields(d.status) + "\n"; }
inline std::string format_reply(const EndReply&) { return "end\n"; }
inline std::string format_reply(const EventLine& e) { return "event device " + format_device_fields(e.status) + "\n"; }
inline std::string format_reply(const Reply& reply) {
    return std::visit([](const auto& r) { return format_reply(r); }, reply);
}

inline Result<Reply> parse_reply(std::string_view line) {
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
