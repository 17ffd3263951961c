#include "devices/blk/blk_request.hpp"

#include "base/iovec.hpp"
#include "devices/blk/blk_iov.hpp"

#include <endian.h>

#include <algorithm>

namespace xenvhost::devices::blk {

namespace {

constexpr uint64_t kSector = 512;

ParsedRequest& refuse(ParsedRequest& p, uint8_t status, std::string_view why) {
    p.op = BlkOp::kComplete;
    p.status = status;
    p.error = why;
    return p;
}

// The last byte of the last non-empty `in` buffer.
uint8_t* find_status_byte(std::span<const iovec> in) {
    for (auto it = in.rbegin(); it != in.rend(); ++it)
        if (it->iov_len > 0) return static_cast<uint8_t*>(it->iov_base) + it->iov_len - 1;
    return nullptr;
}

// Overflow-safe: sector near 2^64 must not wrap past the capacity check.
bool range_ok(uint64_t sector, uint64_t bytes, const RequestLimits& l) {
    const uint64_t per_block = l.block_size / kSector;
    if (bytes % l.block_size != 0 || sector % per_block != 0) return false;
    const uint64_t count = bytes / kSector;
    return sector <= l.capacity_sectors && count <= l.capacity_sectors - sector;
}

ParsedRequest& parse_rw(ParsedRequest& p, const Request& req, const RequestLimits& l,
                        size_t in_room, std::vector<iovec>& data) {
    const bool write = p.type == VIRTIO_BLK_T_OUT;
    if (write && l.read_only) return refuse(p, VIRTIO_BLK_S_IOERR, "write to a read-only disk");
    const uint64_t bytes =
        write ? iovec_total(req.out) - sizeof(virtio_blk_outhdr) : static_cast<uint64_t>(in_room);
    if (bytes > kMaxRequestBytes) return refuse(p, VIRTIO_BLK_S_IOERR, "request too large");
    if (bytes % kSector != 0)
        return refuse(p, VIRTIO_BLK_S_IOERR, "length not a multiple of 512");
    if (!range_ok(p.sector, bytes, l))
        return refuse(p, VIRTIO_BLK_S_IOERR, "sector range outside the disk or misaligned");
    p.offset = p.sector * kSector;
    p.length = bytes;
    if (bytes == 0) return p;  // nothing to transfer: op stays `complete`, status OK
    if (write)
        append_iovec_slice(req.out, sizeof(virtio_blk_outhdr), bytes, data);
    else
        append_iovec_slice(req.in, 0, bytes, data);
    p.op = write ? BlkOp::kWrite : BlkOp::kRead;
    return p;
}

ParsedRequest& parse_discard_zeroes(ParsedRequest& p, const Request& req,
                                    const RequestLimits& l) {
    const bool zeroes = p.type == VIRTIO_BLK_T_WRITE_ZEROES;
    if (l.read_only)
        return refuse(p, VIRTIO_BLK_S_IOERR,
                      zeroes ? "write-zeroes on a read-only disk" : "discard on a read-only disk");
    virtio_blk_discard_write_zeroes seg{};
    const size_t seg_bytes = iovec_total(req.out) - sizeof(virtio_blk_outhdr);
    if (seg_bytes > sizeof seg) return refuse(p, VIRTIO_BLK_S_UNSUPP, "more than one segment");
    auto raw = std::span(reinterpret_cast<uint8_t*>(&seg), sizeof seg);
    if (copy_from_iovecs(req.out, sizeof(virtio_blk_outhdr), raw) != sizeof seg)
        return refuse(p, VIRTIO_BLK_S_IOERR, "segment shorter than 16 bytes");
    const uint64_t sector = le64toh(seg.sector);
    const uint32_t count = le32toh(seg.num_sectors);
    const uint32_t flags = le32toh(seg.flags);
    p.sector = sector;
    const uint32_t max = zeroes ? l.max_write_zeroes_sectors : l.max_discard_sectors;
    if (count > max) return refuse(p, VIRTIO_BLK_S_IOERR, "too many sectors in the segment");
    if (!range_ok(sector, uint64_t{count} * kSector, l))
        return refuse(p, VIRTIO_BLK_S_IOERR, "sector range outside the disk or misaligned");
    if (flags & ~uint32_t{VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP})
        return refuse(p, VIRTIO_BLK_S_UNSUPP, "reserved segment flags set");
    const bool unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
    if (!zeroes && unmap) return refuse(p, VIRTIO_BLK_S_UNSUPP, "UNMAP flag on a discard");
    p.offset = sector * kSector;
    p.length = uint64_t{count} * kSector;
    p.unmap = unmap;
    if (count == 0) return p;  // an empty range: OK without I/O
    p.op = zeroes ? BlkOp::kWriteZeroes : BlkOp::kDiscard;
    return p;
}

}  // namespace

std::optional<memory::GuestBuffer> status_byte_buffer(std::span<const memory::GuestBuffer> chain) {
    for (auto it = chain.rbegin(); it != chain.rend(); ++it)
        if (it->writable && it->len > 0) return memory::GuestBuffer{it->gpa + it->len - 1, 1, true};
    return std::nullopt;
}

ParsedRequest parse_request(const Request& req, const RequestLimits& l, std::vector<iovec>& data) {
    data.clear();
    ParsedRequest p;
    p.status_byte = find_status_byte(req.in);
    if (!p.status_byte) {
        p.error = "no writable status byte";
        return p;
    }
    if (req.unmapped) return refuse(p, VIRTIO_BLK_S_IOERR, "its buffers could not be mapped");
    const size_t in_room = iovec_total(req.in) - 1;

    // The only read of the header from guest memory: everything below uses the copy.
    virtio_blk_outhdr hdr{};
    auto raw = std::span(reinterpret_cast<uint8_t*>(&hdr), sizeof hdr);
    if (copy_from_iovecs(req.out, 0, raw) != sizeof hdr)
        return refuse(p, VIRTIO_BLK_S_IOERR, "header shorter than 16 bytes");
    p.type = le32toh(hdr.type);
    p.sector = le64toh(hdr.sector);

    switch (p.type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        return parse_rw(p, req, l, in_room, data);
    case VIRTIO_BLK_T_FLUSH:
        // The spec says a driver MUST set the sector of a flush to 0; like
        // SPDK (QEMU ignores it), anything else is a broken driver: IOERR.
        if (p.sector != 0) return refuse(p, VIRTIO_BLK_S_IOERR, "flush with a non-zero sector");
        p.op = BlkOp::kFlush;
        return p;
    case VIRTIO_BLK_T_GET_ID:
        p.length = std::min<size_t>(in_room, VIRTIO_BLK_ID_BYTES);
        append_iovec_slice(req.in, 0, p.length, data);
        p.op = BlkOp::kGetId;
        return p;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        return parse_discard_zeroes(p, req, l);
    default:
        return refuse(p, VIRTIO_BLK_S_UNSUPP, "unsupported request type");
    }
}

}  // namespace xenvhost::devices::blk
