// fuzz_blk_request: the virtio-blk request parser (devices::blk::parse_request)
// over fuzzed iovec layouts: headers split across buffers, tiny and empty
// buffers, a missing status byte, in-buffers that alias out-buffers, and
// buffers of up to 2 GiB whose middle is unmapped (only their first and last
// pages are accessible, so touching anything but a header, a segment or the
// status byte faults). Each small buffer is its own heap block, so ASan sees
// any byte outside it.
// Oracles: the status byte is the last byte of the last non-empty in-buffer;
// the data iovecs are exactly the right slice of the right buffers; reads,
// writes, discards and write-zeroes stay inside the disk, aligned to the
// block size, never on a read-only disk; refusals carry IOERR or UNSUPP.
// Layout: common/formats.hpp.

#include "base/iovec.hpp"
#include "base/mapping.hpp"
#include "common/bytes.hpp"
#include "common/check.hpp"
#include "common/formats.hpp"
#include "devices/blk/blk_request.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

using namespace xenvhost;
using namespace xenvhost::devices::blk;
using namespace xenvhost::fuzz;

namespace {

constexpr size_t kPage = 4096;

// A buffer of guest memory as the device would see it mapped.
struct Buffer {
    std::unique_ptr<uint8_t[]> heap;
    Mapping huge;  // first and last page accessible, the rest PROT_NONE
    iovec iov{};
};

Buffer make_huge(size_t len) {
    Buffer b;
    void* p = ::mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    FUZZ_CHECK(p != MAP_FAILED, "reserving {} bytes", len);
    b.huge = Mapping(p, len);
    auto* base = static_cast<uint8_t*>(p);
    FUZZ_CHECK(::mprotect(base, kPage, PROT_READ | PROT_WRITE) == 0 &&
                   ::mprotect(base + len - kPage, kPage, PROT_READ | PROT_WRITE) == 0,
               "mprotect");
    b.iov = {base, len};
    return b;
}

Buffer make_small(size_t len) {
    Buffer b;
    b.heap = std::make_unique<uint8_t[]>(len);  // exactly len zeroed bytes, a real block even for 0
    b.iov = {b.heap.get(), len};
    return b;
}

// The pieces of bytes [offset, offset+length) of `src`, empty pieces dropped.
std::vector<iovec> slice(std::span<const iovec> src, size_t offset, size_t length) {
    std::vector<iovec> out;
    size_t pos = 0;
    for (const auto& v : src) {
        const size_t lo = std::max(pos, offset), hi = std::min(pos + v.iov_len, offset + length);
        if (lo < hi) out.push_back({static_cast<uint8_t*>(v.iov_base) + (lo - pos), hi - lo});
        pos += v.iov_len;
    }
    return out;
}

bool same_iovecs(const std::vector<iovec>& a, const std::vector<iovec>& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](const iovec& x, const iovec& y) {
               return x.iov_base == y.iov_base && x.iov_len == y.iov_len;
           });
}

bool in_range(uint64_t offset, uint64_t length, const RequestLimits& l) {
    if (offset % 512 || length % l.block_size || offset % l.block_size) return false;
    const uint64_t sector = offset / 512, count = length / 512;
    return sector <= l.capacity_sectors && count <= l.capacity_sectors - sector;
}

bool in_huge(const std::vector<Buffer>& bufs, const iovec& v) {
    const auto* p = static_cast<const uint8_t*>(v.iov_base);
    for (const auto& b : bufs)
        if (b.huge.valid() && p >= b.huge.data() && p < b.huge.data() + b.huge.size()) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ByteReader in(data, size);
    RequestLimits l;
    l.capacity_sectors = in.u64();
    l.block_size = 1u << (in.u8() % 8 + 9);
    l.read_only = in.flag();
    l.max_discard_sectors = in.u32();
    l.max_write_zeroes_sectors = in.u32();
    const unsigned nout = in.u8() % (kBlkMaxBuffers + 1);
    const unsigned nin = in.u8() % (kBlkMaxBuffers + 1);

    std::vector<Buffer> bufs;
    std::vector<iovec> out, inv;
    for (unsigned i = 0; i < nout; ++i) {
        const uint16_t spec = in.u16();
        const size_t huge = size_t{spec & 0x7fffu} << 16;
        Buffer b = (spec & kBlkHuge) && huge ? make_huge(huge) : make_small((spec & 0x7fffu) % (kBlkMaxSmall + 1));
        auto content = in.bytes(std::min(b.iov.iov_len, kPage));
        std::memcpy(b.iov.iov_base, content.data(), content.size());
        out.push_back(b.iov);
        bufs.push_back(std::move(b));
    }
    for (unsigned i = 0; i < nin; ++i) {
        const uint16_t spec = in.u16();
        if ((spec & kBlkAlias) && nout) {
            inv.push_back(out[i % nout]);  // the driver may point both ways at one page
            continue;
        }
        const size_t huge = size_t{spec & 0x3fffu} << 16;
        Buffer b = (spec & kBlkHuge) && huge ? make_huge(huge) : make_small((spec & 0x3fffu) % (kBlkMaxSmall + 1));
        inv.push_back(b.iov);
        bufs.push_back(std::move(b));
    }

    std::vector<iovec> dataiov;
    const devices::Request req{out, inv};
    ParsedRequest p = parse_request(req, l, dataiov);

    // The status byte: the last byte of the last non-empty in-buffer.
    uint8_t* status = nullptr;
    for (auto it = inv.rbegin(); it != inv.rend() && !status; ++it)
        if (it->iov_len) status = static_cast<uint8_t*>(it->iov_base) + it->iov_len - 1;
    FUZZ_CHECK(p.status_byte == status, "status byte {} instead of {}", static_cast<void*>(p.status_byte),
               static_cast<void*>(status));
    const size_t out_total = iovec_total(out), in_total = iovec_total(inv);
    const size_t in_room = in_total ? in_total - 1 : 0;
    if (!status) {
        FUZZ_CHECK(p.op == BlkOp::kComplete && dataiov.empty(), "request without a status byte was accepted");
        return 0;
    }
    if (out_total < sizeof(virtio_blk_outhdr))
        FUZZ_CHECK(p.op == BlkOp::kComplete && p.status == VIRTIO_BLK_S_IOERR, "header of {} bytes accepted", out_total);
    const bool writes_disk = p.op == BlkOp::kWrite || p.op == BlkOp::kDiscard || p.op == BlkOp::kWriteZeroes;
    FUZZ_CHECK(!(writes_disk && l.read_only), "{} on a read-only disk", static_cast<int>(p.op));

    switch (p.op) {
        case BlkOp::kComplete:
            FUZZ_CHECK(p.status == VIRTIO_BLK_S_OK || p.status == VIRTIO_BLK_S_IOERR || p.status == VIRTIO_BLK_S_UNSUPP,
                       "status {}", p.status);
            FUZZ_CHECK(dataiov.empty(), "a refused request carries {} data iovecs", dataiov.size());
            if (p.status != VIRTIO_BLK_S_OK) FUZZ_CHECK(!p.error.empty(), "a refusal without a reason");
            break;
        case BlkOp::kRead:
            FUZZ_CHECK(p.type == VIRTIO_BLK_T_IN, "read of type {}", p.type);
            FUZZ_CHECK(p.length == in_room && p.length > 0 && p.length <= kMaxRequestBytes, "read of {} bytes", p.length);
            FUZZ_CHECK(p.offset == p.sector * 512 && in_range(p.offset, p.length, l), "read {:#x}+{:#x} outside the disk",
                       p.offset, p.length);
            FUZZ_CHECK(same_iovecs(dataiov, slice(inv, 0, p.length)), "read data is not the in-buffers less the status byte");
            break;
        case BlkOp::kWrite:
            FUZZ_CHECK(p.type == VIRTIO_BLK_T_OUT, "write of type {}", p.type);
            FUZZ_CHECK(p.length == out_total - 16 && p.length > 0 && p.length <= kMaxRequestBytes, "write of {} bytes",
                       p.length);
            FUZZ_CHECK(p.offset == p.sector * 512 && in_range(p.offset, p.length, l), "write {:#x}+{:#x} outside the disk",
                       p.offset, p.length);
            FUZZ_CHECK(same_iovecs(dataiov, slice(out, 16, p.length)), "write data is not the out-buffers after the header");
            break;
        case BlkOp::kGetId:
            FUZZ_CHECK(p.length == std::min<size_t>(in_room, VIRTIO_BLK_ID_BYTES), "GET_ID of {} bytes", p.length);
            FUZZ_CHECK(same_iovecs(dataiov, slice(inv, 0, p.length)), "GET_ID data is not the start of the in-buffers");
            break;
        case BlkOp::kFlush: FUZZ_CHECK(dataiov.empty(), "flush with data"); break;
        case BlkOp::kDiscard:
        case BlkOp::kWriteZeroes: {
            const bool zeroes = p.op == BlkOp::kWriteZeroes;
            FUZZ_CHECK(p.type == (zeroes ? VIRTIO_BLK_T_WRITE_ZEROES : VIRTIO_BLK_T_DISCARD), "type {}", p.type);
            FUZZ_CHECK(out_total == 16 + sizeof(virtio_blk_discard_write_zeroes), "{} bytes of segments", out_total - 16);
            const uint64_t max = zeroes ? l.max_write_zeroes_sectors : l.max_discard_sectors;
            FUZZ_CHECK(p.length > 0 && p.length % 512 == 0 && p.length / 512 <= max, "range of {} bytes", p.length);
            FUZZ_CHECK(in_range(p.offset, p.length, l), "range {:#x}+{:#x} outside the disk", p.offset, p.length);
            FUZZ_CHECK(!p.unmap || zeroes, "UNMAP on a discard");
            FUZZ_CHECK(dataiov.empty(), "discard with data iovecs");
            break;
        }
    }
    for (const auto& v : dataiov) FUZZ_CHECK(v.iov_len > 0, "empty data iovec");

    // Complete as the device would: data in for reads, then the status byte.
    if (p.op == BlkOp::kRead || p.op == BlkOp::kGetId) {
        for (const auto& v : dataiov)
            if (!in_huge(bufs, v)) std::memset(v.iov_base, 0xa5, v.iov_len);
    }
    *p.status_byte = p.status;
    return 0;
}
