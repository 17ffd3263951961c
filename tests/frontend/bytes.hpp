#pragma once
// Byte views of trivially copyable values (wire payloads, guest structures).

#include <cstdint>
#include <span>
#include <type_traits>

namespace xenvhost::frontend {

template <typename T>
std::span<const uint8_t> bytes_of(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    return {reinterpret_cast<const uint8_t*>(&value), sizeof value};
}

}  // namespace xenvhost::frontend
