#include "control/commands.hpp"

#include "control/codec.hpp"

#include <fmt/core.h>

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace xenvhost::control {

Result<Command> parse_command(std::string_view line) {
    if (line.size() >= kMaxLine) return fail("line longer than {} bytes", kMaxLine - 1);
    auto words = split_words(line);
    std::string_view verb = words[0];
    std::span<const std::string_view> rest(words.data() + 1, words.size() - 1);
    if (verb == "add") {
        auto args = parse_args(rest, {"name", "socket", "blk-file", "read-only", "num-queues", "queue-size", "serial",
                                      "blk-fd", "socket-fd"});
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
        for (auto [key, flag] : {std::pair{"blk-fd", &cmd.passes_blk_fd}, std::pair{"socket-fd", &cmd.passes_socket_fd}}) {
            if (auto* v = find_arg(*args, key)) {
                auto f = parse_flag(key, *v);
                if (!f) return std::unexpected(f.error());
                *flag = *f;
            }
        }
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

std::string format_command(const AddCommand& a) {
    const auto& s = a.spec;
    std::string line = fmt::format("add name={} socket={} blk-file={} read-only={} num-queues={} queue-size={}",
                                   encode_value(s.name), encode_value(s.socket_path), encode_value(s.blk_file),
                                   s.read_only ? 1 : 0, s.num_queues, s.queue_size);
    if (!s.serial.empty()) line += " serial=" + encode_value(s.serial);
    if (s.blk_fd >= 0) line += " blk-fd=1";
    if (s.socket_fd >= 0) line += " socket-fd=1";
    return line + "\n";
}
std::string format_command(const RemoveCommand& r) { return "remove name=" + encode_value(r.name) + "\n"; }
std::string format_command(const StatusCommand&) { return "status\n"; }
std::string format_command(const PingCommand&) { return "ping\n"; }
std::string format_command(const Command& cmd) {
    return std::visit([](const auto& c) { return format_command(c); }, cmd);
}

}  // namespace xenvhost::control
