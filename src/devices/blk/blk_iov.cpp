#include "devices/blk/blk_iov.hpp"

#include <algorithm>
#include <cstdint>

namespace xenvhost::devices::blk {

size_t append_iovec_slice(std::span<const iovec> src, size_t offset, size_t length,
                          std::vector<iovec>& dst) {
    size_t covered = 0;
    for (const auto& v : src) {
        if (covered == length) break;
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        size_t n = std::min(v.iov_len - offset, length - covered);
        dst.push_back({static_cast<uint8_t*>(v.iov_base) + offset, n});
        covered += n;
        offset = 0;
    }
    return covered;
}

bool IovCursor::advance(size_t bytes) {
    auto& v = iov_;
    while (bytes > 0) {
        if (first_ == v.size()) return false;
        iovec& cur = v[first_];
        if (bytes < cur.iov_len) {
            cur.iov_base = static_cast<uint8_t*>(cur.iov_base) + bytes;
            cur.iov_len -= bytes;
            return true;
        }
        bytes -= cur.iov_len;
        ++first_;
    }
    // Skip pieces left empty so remaining() never starts with one.
    while (first_ < v.size() && v[first_].iov_len == 0) ++first_;
    return true;
}

}  // namespace xenvhost::devices::blk
