// fuzz_chain: virtio::SplitRing and virtio::ChainWalker over fuzzed rings in
// fuzzed guest memory: memory::PlainMemory over one memfd mapped as a few
// regions with gaps between them (and at unaligned file offsets), with the
// descriptor table, avail ring, used ring and indirect tables all taken from
// the input, and the driver rewriting guest memory between walks.
// Oracles: the sanitizers; accepted chains keep the walker's promises
// (no empty buffers, readable before writable, totals, 4 GiB cap); every
// mapped iovec lies in a region and holds exactly the guest bytes a
// reference translation finds at that guest address; the ring areas map to
// the right bytes; no fd is left open. Layout: common/formats.hpp.

#include "base/log.hpp"
#include "common/bytes.hpp"
#include "common/check.hpp"
#include "common/fd_count.hpp"
#include "common/formats.hpp"
#include "common/session_harness.hpp"
#include "memory/plain_memory.hpp"
#include "virtio/descriptor_chain.hpp"
#include "virtio/split_ring.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

using namespace xenvhost;
using namespace xenvhost::fuzz;

namespace {

constexpr size_t kMemfdBytes = size_t{kChainMemfdPages} * 4096;

// The driver's view: every region's guest range and where it lies in the memfd.
struct RefRegion {
    uint64_t gpa, size, file_offset;
};

class Reference {
public:
    explicit Reference(const uint8_t* file) : file_(file) {}
    void add(const RefRegion& r) { regions_.push_back(r); }
    // File offset of guest address `gpa` and the bytes left in its region.
    std::optional<std::pair<uint64_t, uint64_t>> locate(uint64_t gpa) const {
        for (const auto& r : regions_)
            if (gpa >= r.gpa && gpa - r.gpa < r.size) return std::pair{r.file_offset + (gpa - r.gpa), r.size - (gpa - r.gpa)};
        return std::nullopt;
    }
    // Compares host bytes claimed to hold guest [gpa, gpa+len) with the memfd.
    bool same_bytes(uint64_t gpa, const uint8_t* host, uint64_t len) const {
        uint64_t done = 0;
        while (done < len) {
            auto at = locate(gpa + done);
            if (!at) return false;
            const uint64_t n = std::min(len - done, at->second);
            if (std::memcmp(host + done, file_ + at->first, n) != 0) return false;
            done += n;
        }
        return true;
    }

private:
    const uint8_t* file_;
    std::vector<RefRegion> regions_;
};

void check_walk(const virtio::DescriptorChain& c) {
    bool seen_writable = false;
    uint64_t r = 0, w = 0;
    for (const auto& b : c.buffers) {
        FUZZ_CHECK(b.len > 0, "empty buffer in an accepted chain");
        FUZZ_CHECK(b.writable || !seen_writable, "readable buffer after a writable one");
        seen_writable |= b.writable;
        (b.writable ? w : r) += b.len;
    }
    FUZZ_CHECK(r == c.readable_len && w == c.writable_len, "chain totals {}/{} but buffers add up to {}/{}",
               c.readable_len, c.writable_len, r, w);
    FUZZ_CHECK(r + w <= UINT32_MAX, "accepted chain of {} bytes", r + w);
}

// Every iovec must show the guest bytes of its buffer, in chain order.
void check_contents(const Reference& ref, const virtio::DescriptorChain& c, const memory::MappedBuffers& bufs) {
    size_t out_i = 0, in_i = 0;
    for (const auto& b : c.buffers) {
        const auto& list = b.writable ? bufs.in : bufs.out;
        size_t& i = b.writable ? in_i : out_i;
        uint64_t done = 0;
        while (done < b.len) {
            FUZZ_CHECK(i < list.size(), "iovecs end before buffer {:#x}+{}", b.gpa, b.len);
            const iovec& v = list[i++];
            FUZZ_CHECK(v.iov_len <= b.len - done, "iovec longer than its buffer");
            FUZZ_CHECK(ref.same_bytes(b.gpa + done, static_cast<const uint8_t*>(v.iov_base), v.iov_len),
                       "iovec for guest {:#x}+{} shows other bytes", b.gpa + done, v.iov_len);
            done += v.iov_len;
        }
    }
    FUZZ_CHECK(out_i == bufs.out.size() && in_i == bufs.in.size(), "iovecs left over after the chain");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log::set_level(log::Level::kError);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FdLeakGuard fd_guard;
    ByteReader in(data, size);

    UniqueFd fd(::memfd_create("fuzz-chain", MFD_CLOEXEC));
    FUZZ_CHECK(fd.valid() && ::ftruncate(fd.get(), kMemfdBytes) == 0, "memfd");
    void* view_addr = ::mmap(nullptr, kMemfdBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    FUZZ_CHECK(view_addr != MAP_FAILED, "mmap of the driver's view");
    Mapping view(view_addr, kMemfdBytes);
    Reference ref(view.data());

    const uint8_t flags = in.u8();
    const bool indirect = flags & 1, event_idx = flags & 2;
    const uint16_t qsize = static_cast<uint16_t>(1u << (in.u8() % 11));
    const unsigned nregions = in.u8() % 4 + 1;
    std::vector<std::shared_ptr<const memory::Region>> regions;
    for (unsigned i = 0; i < nregions; ++i) {
        const uint64_t gpa = uint64_t{in.u32()} << 12;
        const uint64_t pages = in.u8() % 32 + 1;
        const uint64_t offset = in.u32() % kMemfdBytes;
        const uint64_t bytes = std::min(pages * 4096, kMemfdBytes - offset);
        memory::RegionDesc d;
        d.gpa = gpa;
        d.size = bytes;
        d.mmap_offset = offset;
        auto r = memory::Region::map_plain(d, fd.get());
        FUZZ_CHECK(r.has_value(), "region gpa {:#x} size {:#x} offset {:#x}: {}", gpa, bytes, offset,
                   r ? "" : r.error().message);
        regions.push_back(*r);
        ref.add({gpa, bytes, offset});
    }
    virtio::RingAddresses addrs{in.u64(), in.u64(), in.u64()};
    const uint16_t last_avail = in.u16();
    auto table = memory::RegionTable::build(std::move(regions));
    if (!table) return 0;  // overlapping regions: the session refuses those
    auto mem = std::make_shared<memory::PlainMemory>(std::move(*table));
    if (skip_known_bug("misaligned-ring") && ring_misaligned_in_host(*mem, qsize, addrs)) return 0;
    auto ring = virtio::SplitRing::map(*mem, qsize, addrs, event_idx, last_avail);
    if (!ring) return 0;
    FUZZ_CHECK(ref.same_bytes(addrs.desc, reinterpret_cast<const uint8_t*>(ring->desc_table()),
                              virtio::desc_area_size(qsize)),
               "descriptor table at {:#x} mapped to other bytes", addrs.desc);

    virtio::ChainWalker walker(qsize, indirect);
    virtio::DescriptorChain chain;
    memory::MappedBuffers bufs;
    // Walks one head and maps its buffers, checking both; returns the used length.
    auto walk = [&](uint16_t head) -> std::optional<uint32_t> {
        auto w = walker.walk(ring->desc_table(), head, *mem, chain);
        if (head >= qsize) FUZZ_CHECK(!w && w.error() == virtio::ChainError::kHeadOutOfRange, "head {} accepted", head);
        if (!w) return std::nullopt;
        check_walk(chain);
        bufs.release();
        auto m = mem->map_buffers(chain.buffers, bufs);
        if (!m) return std::nullopt;
        check_mapped_buffers(*mem, chain, bufs);
        check_contents(ref, chain, bufs);
        const auto written = static_cast<uint32_t>(chain.writable_len);
        bufs.release();
        return written;
    };

    bool broken = false;
    while (!in.empty()) {
        switch (in.u8() % chain_op::kCount) {
            case chain_op::kPoke: {
                const size_t at = in.u32() % kMemfdBytes;
                auto bytes = in.blob(4096);
                std::memcpy(view.data() + at, bytes.data(), std::min(bytes.size(), kMemfdBytes - at));
                break;
            }
            case chain_op::kProcess: {
                if (broken) break;
                for (unsigned round = 0; round < 4 && !broken; ++round) {
                    auto avail = ring->available();
                    if (!avail) {
                        broken = true;
                        break;
                    }
                    FUZZ_CHECK(*avail <= qsize, "{} available on a ring of {}", *avail, qsize);
                    if (*avail == 0) {
                        if (!ring->arm_kick()) break;
                        continue;
                    }
                    for (uint16_t i = 0; i < *avail; ++i) {
                        const uint16_t head = ring->pop();
                        auto used = walk(head);
                        if (!used) {
                            broken = true;
                            break;
                        }
                        ring->push_used(head, *used);
                    }
                }
                ring->publish();
                break;
            }
            case chain_op::kWalk: (void)walk(in.u16()); break;
            case chain_op::kRemap: {
                auto r = ring->remap(*mem);
                FUZZ_CHECK(r.has_value(), "remap over unchanged memory failed: {}", r ? "" : r.error().message);
                break;
            }
            case chain_op::kArmKick: (void)ring->arm_kick(); break;
        }
    }
    return 0;
}
