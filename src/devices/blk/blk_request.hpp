#pragma once
// The virtio-blk request parser: copies the header (and a discard/write-zeroes
// segment) out of guest memory exactly once, validates it, and decides what
// the request is. No I/O happens here.

#include "devices/device.hpp"

#include <linux/virtio_blk.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace xenvhost::devices::blk {

// Requests larger than this are refused (IOERR), as in QEMU: the used length
// is 32 bits and no driver sends anything near it.
inline constexpr uint64_t kMaxRequestBytes = 0x7fffffffu & ~uint64_t{511};

struct RequestLimits {
    uint64_t capacity_sectors = 0;
    uint32_t block_size = 512;  // logical; sectors and lengths must be multiples
    bool read_only = false;
    uint32_t max_discard_sectors = 0;
    uint32_t max_write_zeroes_sectors = 0;
};

enum class BlkOp : uint8_t {
    kComplete,  // nothing to do: answer at once with `status`
    kRead,
    kWrite,
    kFlush,
    kGetId,
    kDiscard,
    kWriteZeroes,
};

struct ParsedRequest {
    BlkOp op = BlkOp::kComplete;
    uint8_t status = VIRTIO_BLK_S_OK;  // the answer for BlkOp::kComplete
    // The last byte of `in`; nullptr when `in` is empty and the request
    // cannot be answered (it is completed with nothing written).
    uint8_t* status_byte = nullptr;
    uint32_t type = 0;    // the header's type, for logs
    uint64_t sector = 0;  // the header's (or the segment's) sector
    uint64_t offset = 0;  // bytes into the disk
    uint64_t length = 0;  // bytes: data for read/write, range for discard/write-zeroes
    bool unmap = false;   // write_zeroes may deallocate
    // Why the request was refused (empty if it was not), for logs and tests.
    std::string_view error;
};

// The status byte in guest terms: the last byte of the last device-writable
// buffer. A request whose buffers could not be mapped is answered there (with
// IOERR); none if the chain has no writable buffer.
std::optional<memory::GuestBuffer> status_byte_buffer(std::span<const memory::GuestBuffer> chain);

// Parses one chain. `data` is cleared and receives the data buffers: for a
// read, `in` without the status byte; for a write, `out` after the header; for
// GET_ID, `in` without the status byte; nothing otherwise.
ParsedRequest parse_request(const Request& req, const RequestLimits& limits,
                            std::vector<iovec>& data);

}  // namespace xenvhost::devices::blk
