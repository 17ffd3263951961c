#pragma once
// Framing and value coding of the control protocol (see control/protocol.hpp):
// one command or reply per '\n'-terminated line of at most kMaxLine bytes,
// words separated by one space, arguments key=value with values
// percent-encoded (%XX) for '%', '=', and every byte outside 0x21..0x7e, so
// paths may hold anything.

#include "base/error.hpp"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xenvhost::control {

inline constexpr size_t kMaxLine = 4096;
inline constexpr size_t kMaxName = 64;

std::string encode_value(std::string_view v);
Result<std::string> decode_value(std::string_view v);

// Arguments of one line, in order; keys are unique.
using Args = std::vector<std::pair<std::string, std::string>>;

std::vector<std::string_view> split_words(std::string_view line);
// Parses the key=value words; `allowed` lists the keys this verb accepts.
Result<Args> parse_args(std::span<const std::string_view> words, std::initializer_list<std::string_view> allowed);
const std::string* find_arg(const Args& args, std::string_view key);
Result<uint64_t> parse_uint(std::string_view key, std::string_view v, uint64_t max);
Result<bool> parse_flag(std::string_view key, std::string_view v);
// Device names: 1..kMaxName bytes of [A-Za-z0-9._-].
Result<> check_name(std::string_view name);
// Reasons are free text to the end of the line; control bytes would break framing.
std::string sanitize_reason(std::string_view reason);

}  // namespace xenvhost::control
