#pragma once
// Copies between flat buffers and iovec lists (guest buffers), bounded on both sides.

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace xenvhost {

inline size_t iovec_total(std::span<const iovec> iov) {
    size_t n = 0;
    for (const auto& v : iov) n += v.iov_len;
    return n;
}

// Copies up to dst.size() bytes starting `offset` bytes into `iov`; returns bytes copied.
inline size_t copy_from_iovecs(std::span<const iovec> iov, size_t offset, std::span<uint8_t> dst) {
    size_t done = 0;
    for (const auto& v : iov) {
        if (done == dst.size()) break;
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        size_t n = std::min(v.iov_len - offset, dst.size() - done);
        std::memcpy(dst.data() + done, static_cast<const uint8_t*>(v.iov_base) + offset, n);
        done += n;
        offset = 0;
    }
    return done;
}

// Copies src into `iov` starting `offset` bytes in; returns bytes copied.
inline size_t copy_to_iovecs(std::span<const iovec> iov, size_t offset, std::span<const uint8_t> src) {
    size_t done = 0;
    for (const auto& v : iov) {
        if (done == src.size()) break;
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        size_t n = std::min(v.iov_len - offset, src.size() - done);
        std::memcpy(static_cast<uint8_t*>(v.iov_base) + offset, src.data() + done, n);
        done += n;
        offset = 0;
    }
    return done;
}

}  // namespace xenvhost
