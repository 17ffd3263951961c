#include "control/codec.hpp"

#include <charconv>

namespace xenvhost::control {

std::string encode_value(std::string_view v) {
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

Result<std::string> decode_value(std::string_view v) {
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

std::vector<std::string_view> split_words(std::string_view line) {
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

Result<Args> parse_args(std::span<const std::string_view> words,
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

const std::string* find_arg(const Args& args, std::string_view key) {
    for (auto& [k, v] : args)
        if (k == key) return &v;
    return nullptr;
}

Result<uint64_t> parse_uint(std::string_view key, std::string_view v, uint64_t max) {
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || ptr != v.data() + v.size() || n > max)
        return fail("{}: '{}' is not a number in 0..{}", key, v, max);
    return n;
}

Result<bool> parse_flag(std::string_view key, std::string_view v) {
    if (v == "0") return false;
    if (v == "1") return true;
    return fail("{}: '{}' is not 0 or 1", key, v);
}

Result<> check_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxName) return fail("name must be 1..{} bytes", kMaxName);
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.';
        if (!ok) return fail("name '{}' has characters outside [A-Za-z0-9._-]", name);
    }
    return {};
}

std::string sanitize_reason(std::string_view reason) {
    std::string out(reason.substr(0, kMaxLine - 16));
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return out;
}

}  // namespace xenvhost::control
