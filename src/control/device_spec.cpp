#include "control/device_spec.hpp"

#include <charconv>

namespace xenvhost::control {
namespace {

Result<unsigned long> parse_number(std::string_view key, std::string_view v, unsigned long max) {
    unsigned long n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || ptr != v.data() + v.size() || n > max)
        return fail("{}: '{}' is not a number up to {}", key, v, max);
    return n;
}

Result<bool> parse_bool(std::string_view key, std::string_view v) {
    if (v == "1" || v == "on" || v == "true" || v == "yes") return true;
    if (v == "0" || v == "off" || v == "false" || v == "no") return false;
    return fail("{}: '{}' is not a boolean", key, v);
}

}  // namespace

Result<DeviceSpec> parse_device_spec(std::string_view text) {
    DeviceSpec spec;
    while (!text.empty()) {
        auto comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
        auto eq = item.find('=');
        if (eq == std::string_view::npos) return fail("'{}' is not key=value", item);
        std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
        if (key == "name") {
            spec.name = value;
        } else if (key == "socket") {
            spec.socket_path = value;
        } else if (key == "blk-file") {
            spec.blk_file = value;
        } else if (key == "serial") {
            spec.serial = value;
        } else if (key == "cache") {
            spec.cache = value;
        } else if (key == "read-only") {
            auto b = parse_bool(key, value);
            if (!b) return std::unexpected(b.error());
            spec.read_only = *b;
        } else if (key == "null-io") {
            auto b = parse_bool(key, value);
            if (!b) return std::unexpected(b.error());
            spec.null_io = *b;
        } else if (key == "io-path") {
            spec.io_path = value;
        } else if (key == "num-queues") {
            auto n = parse_number(key, value, 64);
            if (!n) return std::unexpected(n.error());
            spec.num_queues = static_cast<uint16_t>(*n);
        } else if (key == "queue-size") {
            auto n = parse_number(key, value, 32768);
            if (!n) return std::unexpected(n.error());
            spec.queue_size = static_cast<uint16_t>(*n);
        } else {
            return fail("unknown device key '{}'", key);
        }
    }
    if (auto ok = validate_device_spec(spec); !ok) return std::unexpected(ok.error());
    return spec;
}

Result<> validate_device_spec(const DeviceSpec& spec) {
    if (spec.name.empty()) return fail("device name missing");
    if (spec.socket_path.empty() && spec.socket_fd < 0) return fail("device {}: socket missing", spec.name);
    if (spec.blk_file.empty()) return fail("device {}: blk-file missing", spec.name);
    if (spec.num_queues == 0 || spec.num_queues > 64)
        return fail("device {}: num-queues {} (1..64)", spec.name, spec.num_queues);
    if (spec.queue_size < 2 || spec.queue_size > 32768 || (spec.queue_size & (spec.queue_size - 1)))
        return fail("device {}: queue-size {} is not a power of 2 in 2..32768", spec.name, spec.queue_size);
    if (spec.serial.size() > 20) return fail("device {}: serial longer than 20 bytes", spec.name);
    if (spec.cache != "writeback" && spec.cache != "none")
        return fail("device {}: cache '{}' (writeback or none)", spec.name, spec.cache);
    if (spec.io_path != "auto" && spec.io_path != "uring")
        return fail("device {}: io-path '{}' (auto or uring)", spec.name, spec.io_path);
    return {};
}

}  // namespace xenvhost::control
