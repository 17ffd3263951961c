#pragma once
// Access widths as the guest issues them: which a transport accepts, the
// bytes of a value that count, and what a refused read gives.

#include <cstdint>

namespace xenvhost::transport {

inline bool valid_access_size(unsigned size) { return size == 1 || size == 2 || size == 4 || size == 8; }

// The low `size` bytes of `value` (size 1..8).
inline uint64_t low_bytes(uint64_t value, unsigned size) {
    return size >= 8 ? value : value & ((uint64_t{1} << (8 * size)) - 1);
}

// All ones in the low `size` bytes: what a refused read gives.
inline uint64_t all_ones(unsigned size) { return low_bytes(~uint64_t{0}, size); }

}  // namespace xenvhost::transport
