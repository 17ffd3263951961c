#pragma once
// iovec list surgery for the I/O path: cutting a byte range out of a chain's
// buffers, and moving past bytes already transferred after a short read/write.

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <vector>

namespace xenvhost::devices::blk {

// Appends to `dst` the iovecs covering bytes [offset, offset + length) of
// `src`, dropping empty pieces. Returns the number of bytes covered, which is
// less than `length` when `src` is shorter.
size_t append_iovec_slice(std::span<const iovec> src, size_t offset, size_t length,
                          std::vector<iovec>& dst);

// An iovec list and how much of it has been transferred. Owns the list, so
// it can move (a slot table growing) without leaving a dangling pointer.
class IovCursor {
public:
    // Empties the list for refilling (its capacity is kept) and rewinds.
    std::vector<iovec>& reset() {
        iov_.clear();
        first_ = 0;
        return iov_;
    }
    // The iovecs not yet transferred.
    std::span<const iovec> remaining() const { return std::span<const iovec>(iov_).subspan(first_); }
    // Marks `bytes` as transferred; returns false if that is more than remains.
    bool advance(size_t bytes);
    bool done() const { return first_ == iov_.size(); }

private:
    std::vector<iovec> iov_;
    size_t first_ = 0;
};

}  // namespace xenvhost::devices::blk
