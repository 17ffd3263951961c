// fuzz_xen_regions: the Xen side of guest memory.
//   part 0: vhost_user::parse_xen_flags and memory::gather_pages against a
//           reference reading of their contracts;
//   part 1: memory::XenMemory over a table mixing mapped plain regions and
//           unmapped foreign/grant regions (no hypervisor: every Xen mapping
//           must fail cleanly, with EIO, never touch memory, never succeed);
//   part 2: SET_MEM_TABLE / ADD_MEM_REG / REM_MEM_REG with the 40-byte (or a
//           mismatched 32-byte) layout through a BackendSession with `xen`
//           options, rings started over what got installed. The session's
//           device-fd checks must refuse every foreign or grant region (its
//           fds are memfds, eventfds and /dev/null), so the memory the runner
//           receives never holds an unmapped Xen region.
// Layout: common/formats.hpp.

#include "base/log.hpp"
#include "common/bytes.hpp"
#include "common/check.hpp"
#include "common/fd_count.hpp"
#include "common/formats.hpp"
#include "common/session_harness.hpp"
#include "memory/plain_memory.hpp"
#include "memory/xen_address.hpp"
#include "memory/xen_memory.hpp"
#include "vhost_user/xen_region_flags.hpp"
#include "xen/foreign_memory.hpp"
#include "xen/grant_table.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

using namespace xenvhost;
using namespace xenvhost::fuzz;
using memory::XenRegionKind;

namespace {

constexpr uint64_t kPage = memory::kXenPageSize;
constexpr size_t kMemfdBytes = size_t{kXenMemfdPages} * kPage;
constexpr uint64_t kGrantBit = memory::kGrantAddressFlag;

XenRegionKind kind_of(uint8_t k) {
    switch (k % 3) {
        case 1: return XenRegionKind::kForeign;
        case 2: return XenRegionKind::kGrant;
        default: return XenRegionKind::kPlain;
    }
}

UniqueFd new_memfd(size_t bytes) {
    UniqueFd fd(::memfd_create("fuzz-xen", MFD_CLOEXEC));
    FUZZ_CHECK(fd.valid() && ::ftruncate(fd.get(), static_cast<off_t>(bytes)) == 0, "memfd");
    return fd;
}

// ---------------------------------------------------------------- part 0

void check_flags(uint32_t flags) {
    using namespace vhost_user::xen_mmap_flag;
    auto f = vhost_user::parse_xen_flags(flags);
    const uint32_t known = kForeign | kGrant | kNoAdvanceMapDeployed | kNoAdvanceMapSpec;
    const bool foreign = flags & kForeign, grant = flags & kGrant;
    const bool no_advance = flags & (kNoAdvanceMapDeployed | kNoAdvanceMapSpec);
    const bool valid = !(flags & ~known) && !(foreign && grant) && (foreign || grant || !no_advance);
    FUZZ_CHECK(f.has_value() == valid, "flags {:#x} {}", flags, valid ? "refused" : "accepted");
    if (!f) return;
    const XenRegionKind kind = foreign ? XenRegionKind::kForeign : grant ? XenRegionKind::kGrant : XenRegionKind::kPlain;
    FUZZ_CHECK(f->kind == kind && f->no_advance_map == no_advance, "flags {:#x} decoded wrongly", flags);
}

// What gather_pages must do, read from its contract: frames first..last of
// the buffer, grant addresses in the 1<<63 space with 32-bit refs.
struct Expected {
    bool ok = false;
    uint64_t first = 0, last = 0;
    uint32_t offset = 0;
};
Expected expect_gather(XenRegionKind kind, uint64_t addr, uint64_t len) {
    Expected e;
    if (len == 0 || addr + len < addr) return e;
    uint64_t base = addr;
    if (kind == XenRegionKind::kGrant) {
        if (!(addr & kGrantBit)) return e;
        base = addr & ~kGrantBit;
        if (base + len > kGrantBit) return e;
    }
    e.first = base / kPage;
    e.last = (base + len - 1) / kPage;
    if (kind == XenRegionKind::kGrant && e.last > UINT32_MAX) return e;
    e.offset = static_cast<uint32_t>(base % kPage);
    e.ok = true;
    return e;
}

void check_gather(XenRegionKind kind, uint64_t addr, uint64_t len) {
    const Expected e = expect_gather(kind, addr, len);
    if (e.ok && e.last - e.first >= 65536) return;  // valid, but too many frames to list quickly
    std::vector<uint64_t> frames{0xdead};
    auto span = memory::gather_pages(kind, addr, len, frames);
    FUZZ_CHECK(span.has_value() == e.ok, "gather_pages(kind {}, {:#x}, {:#x}) {}", static_cast<int>(kind), addr, len,
               e.ok ? "failed" : "succeeded");
    if (!span) {
        FUZZ_CHECK(frames.size() == 1, "a failed gather appended {} frames", frames.size() - 1);
        return;
    }
    FUZZ_CHECK(span->first_page == 1 && span->offset == e.offset, "span {}+{:#x}, expected 1+{:#x}", span->first_page,
               span->offset, e.offset);
    FUZZ_CHECK(frames.size() == 1 + (e.last - e.first + 1), "{} frames for {:#x}..{:#x}", frames.size() - 1, e.first,
               e.last);
    for (uint64_t i = 0; i + 1 < frames.size(); ++i)
        FUZZ_CHECK(frames[i + 1] == e.first + i, "frame {} is {:#x}", i, frames[i + 1]);
}

void part_flags_pages(ByteReader& in) {
    while (!in.empty()) {
        check_flags(in.u32());
        const XenRegionKind kind = kind_of(in.u8());
        const uint64_t addr = in.u64();
        check_gather(kind, addr, in.u64());
    }
}

// ---------------------------------------------------------------- part 1

struct RefRegion {
    uint64_t gpa, size;
    XenRegionKind kind;
    uint64_t file_offset;  // plain regions only
};

const RefRegion* find(const std::vector<RefRegion>& regions, uint64_t gpa) {
    for (const auto& r : regions)
        if (gpa >= r.gpa && gpa - r.gpa < r.size) return &r;
    return nullptr;
}

// How an access to [gpa, gpa+len) must end: every piece plain and mapped
// (kOk), a piece outside guest memory or not addressable in its grant
// region (kFault), or a piece that needs a Xen mapping, which fails here (kMapFails).
enum class Access { kOk, kFault, kMapFails };
Access expect_access(const std::vector<RefRegion>& regions, uint64_t gpa, uint64_t len) {
    Access worst = Access::kOk;
    for (uint64_t done = 0; done < len;) {
        const uint64_t addr = gpa + done;
        if (addr < gpa) return Access::kFault;
        const RefRegion* r = find(regions, addr);
        if (!r) return Access::kFault;
        const uint64_t piece = std::min(len - done, r->gpa + r->size - addr);
        if (r->kind != XenRegionKind::kPlain) {
            if (!expect_gather(r->kind, addr, piece).ok) return Access::kFault;
            worst = Access::kMapFails;
        }
        done += piece;
    }
    return worst;
}

bool same_bytes(const std::vector<RefRegion>& regions, const uint8_t* file, uint64_t gpa, const uint8_t* host,
                uint64_t len) {
    for (uint64_t done = 0; done < len;) {
        const RefRegion* r = find(regions, gpa + done);
        if (!r || r->kind != XenRegionKind::kPlain) return false;
        const uint64_t off = gpa + done - r->gpa;
        const uint64_t n = std::min(len - done, r->size - off);
        if (std::memcmp(host + done, file + r->file_offset + off, n) != 0) return false;
        done += n;
    }
    return true;
}

void part_memory(ByteReader& in) {
    UniqueFd fd = new_memfd(kMemfdBytes);
    void* view_addr = ::mmap(nullptr, kMemfdBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    FUZZ_CHECK(view_addr != MAP_FAILED, "mmap");
    Mapping view(view_addr, kMemfdBytes);
    for (size_t i = 0; i < kMemfdBytes; i += 64) view.data()[i] = static_cast<uint8_t>(i >> 6);

    std::vector<RefRegion> ref;
    std::vector<std::shared_ptr<const memory::Region>> regions;
    const unsigned n = in.u8() % 4 + 1;
    for (unsigned i = 0; i < n; ++i) {
        memory::RegionDesc d;
        d.kind = kind_of(in.u8());
        d.domid = in.u32();
        d.gpa = in.u64();
        d.size = (in.u8() % 16 + 1) * kPage;
        d.mmap_offset = (i * 16 * kPage) % kMemfdBytes;
        // The session validates every region before it exists.
        if (!memory::validate_region(d)) continue;
        if (d.kind == XenRegionKind::kPlain) {
            auto r = memory::Region::map_plain(d, fd.get());
            FUZZ_CHECK(r.has_value(), "plain region: {}", r ? "" : r.error().message);
            regions.push_back(*r);
        } else {
            regions.push_back(memory::Region::unmapped(d));
        }
        ref.push_back({d.gpa, d.size, d.kind, d.mmap_offset});
    }
    auto table = memory::RegionTable::build(std::move(regions));
    if (!table) return;
    auto stats = std::make_shared<memory::MapStats>();
    auto mem = std::make_shared<memory::XenMemory>(std::move(*table), memory::XenHandles{}, stats);

    bool grant = false, foreign = false;
    for (const auto& r : ref) {
        grant |= r.kind == XenRegionKind::kGrant;
        foreign |= r.kind == XenRegionKind::kForeign;
    }
    const std::string_view mode = grant ? "grant" : foreign ? "foreign" : "mmap";
    FUZZ_CHECK(mem->mode() == mode, "mode {} for a table that is {}", mem->mode(), mode);

    while (!in.empty()) {
        const uint8_t op = in.u8() % 3;
        if (op == 0) {
            const uint64_t gpa = in.u64();
            const uint64_t len = in.u32() % (1u << 20);
            const bool writable = in.flag();
            auto m = mem->map_ring(gpa, len, writable);
            const RefRegion* r = find(ref, gpa);
            const bool inside = r && len <= r->gpa + r->size - gpa;
            FUZZ_CHECK(!m || (inside && r->kind == XenRegionKind::kPlain),
                       "ring area {:#x}+{:#x} mapped without a plain region holding it", gpa, len);
            if (inside && r->kind == XenRegionKind::kPlain) FUZZ_CHECK(m.has_value(), "ring area in plain memory refused");
            if (m) FUZZ_CHECK(same_bytes(ref, view.data(), gpa, m->host, len), "ring area shows other bytes");
        } else if (op == 1) {
            const uint64_t gpa = in.u64();
            std::vector<uint8_t> dst(in.u16());
            const bool ok = mem->read(gpa, dst);
            const Access want = expect_access(ref, gpa, dst.size());
            FUZZ_CHECK(ok == (want == Access::kOk), "read of {:#x}+{:#x}: {} (expected {})", gpa, dst.size(), ok,
                       static_cast<int>(want));
            if (ok) FUZZ_CHECK(same_bytes(ref, view.data(), gpa, dst.data(), dst.size()), "read returned other bytes");
        } else {
            std::vector<memory::GuestBuffer> bufs(in.u8() % 8 + 1);
            Access want = Access::kOk;
            for (auto& b : bufs) {
                b.gpa = in.u64();
                b.len = in.u32() % (1u << 20) + 1;
                b.writable = in.flag();
            }
            // The first fault ends the walk; a Xen piece only fails at mapping time, after it.
            for (const auto& b : bufs) {
                const Access a = expect_access(ref, b.gpa, b.len);
                if (a == Access::kFault) {
                    want = a;
                    break;
                }
                if (a == Access::kMapFails) want = a;
            }
            memory::MappedBuffers out;
            auto m = mem->map_buffers(bufs, out);
            const bool want_ok = want == Access::kOk;
            const ErrorKind want_kind = want == Access::kFault ? ErrorKind::kGuestFault : ErrorKind::kMapFailure;
            FUZZ_CHECK(bool(m) == want_ok && (want_ok || m.error().kind == want_kind), "map_buffers gave {} (expected {})",
                       m ? "success" : kind_name(m.error().kind), want_ok ? "success" : kind_name(want_kind));
            if (!m) continue;
            virtio::DescriptorChain chain;
            for (const auto& b : bufs) {
                chain.buffers.push_back(b);
                (b.writable ? chain.writable_len : chain.readable_len) += b.len;
            }
            check_mapped_buffers(*mem, chain, out);
            // iovecs come out in buffer order, per direction.
            size_t oi = 0, ii = 0;
            for (const auto& b : bufs) {
                const auto& list = b.writable ? out.in : out.out;
                size_t& i = b.writable ? ii : oi;
                for (uint64_t done = 0; done < b.len; ++i) {
                    FUZZ_CHECK(i < list.size(), "iovecs end early");
                    FUZZ_CHECK(same_bytes(ref, view.data(), b.gpa + done, static_cast<uint8_t*>(list[i].iov_base),
                                          list[i].iov_len),
                               "iovec for {:#x} shows other bytes", b.gpa + done);
                    done += list[i].iov_len;
                }
            }
        }
    }
}

// ---------------------------------------------------------------- part 2

struct SessionPart {
    FuzzDevice device{2, 256};
    InlineRunner runner{device};
    UniqueFd guest = new_memfd(kMemfdBytes);
    std::unique_ptr<SessionDriver> driver;
    uint8_t cfg = 0;
    uint16_t domid = 0;

    void connect() {
        driver.reset();
        memory::MemoryPolicy policy{.xen = true};
        if (cfg & xen_cfg::kDomid) policy.domid = domid;
        memory::XenHandles handles;
        if (cfg & xen_cfg::kHandles) {
            handles.grants = std::make_shared<xen::GrantTable>(nullptr);
            handles.foreign = std::make_shared<xen::ForeignMemory>(nullptr);
        }
        vhost_user::SessionOptions o;
        o.memory = std::make_shared<memory::MemoryBuilder>(policy, std::move(handles));
        driver = std::make_unique<SessionDriver>(device, runner, std::move(o));
        using namespace vhost_user;
        using namespace vhost_user::protocol_feature;
        constexpr uint32_t kAck = kVersion | kFlagNeedReply;
        uint64_t proto = bit(kReplyAck) | bit(kMq) | bit(kConfig) | bit(kConfigureMemSlots);
        if (cfg & xen_cfg::kXenMmap) proto |= bit(kXenMmap);
        driver->send(static_cast<uint32_t>(Request::kGetFeatures), kVersion, {});
        driver->send_obj(Request::kSetProtocolFeatures, proto, {}, kAck);
        driver->send_obj(Request::kSetFeatures, device.features() | bit(kFeatureProtocolFeatures), {}, kAck);
        FUZZ_CHECK(driver->alive(), "the session refused a plain negotiation");
    }

    // One region description and the fd that goes with it.
    void region(ByteReader& in, std::vector<uint8_t>& payload, std::vector<UniqueFd>& owned, std::vector<int>& fds) {
        vhost_user::XenMemoryRegion r{};
        r.base.guest_phys_addr = in.u64();
        r.base.memory_size = in.u32();
        r.base.user_addr = in.u64();
        r.base.mmap_offset = in.u32();
        r.xen_mmap_flags = in.u32();
        r.domid = in.u32();
        const size_t bytes = (cfg & xen_cfg::kLayout40) ? sizeof r : sizeof r.base;
        payload.insert(payload.end(), reinterpret_cast<uint8_t*>(&r), reinterpret_cast<uint8_t*>(&r) + bytes);
        switch (in.u8() % 4) {
            case 0: fds.push_back(guest.get()); return;
            case 1: owned.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)); break;
            case 2: owned.emplace_back(::open("/dev/null", O_RDWR | O_CLOEXEC)); break;
            default: owned.push_back(new_memfd(kPage)); break;
        }
        FUZZ_CHECK(owned.back().valid(), "creating a region fd");
        fds.push_back(owned.back().get());
    }

    void check_installed() const {
        const auto& mem = runner.memory();
        if (!mem) return;
        const memory::RegionTable* t = nullptr;
        if (auto* x = dynamic_cast<const memory::XenMemory*>(mem.get())) t = &x->table();
        if (auto* p = dynamic_cast<const memory::PlainMemory*>(mem.get())) t = &p->table();
        FUZZ_CHECK(t, "memory of mode {}", mem->mode());
        for (const auto& r : t->regions())
            FUZZ_CHECK(r->mapped(), "a Xen region (flags from a {} fd) was installed without a Xen device fd",
                       r->desc().kind == XenRegionKind::kGrant ? "grant" : "foreign");
    }

    void run(ByteReader& in) {
        using vhost_user::Request;
        constexpr uint32_t kAck = vhost_user::kVersion | vhost_user::kFlagNeedReply;
        cfg = in.u8();
        domid = in.u16();
        connect();
        while (!in.empty()) {
            if (!driver->alive()) connect();
            std::vector<uint8_t> payload;
            std::vector<UniqueFd> owned;
            std::vector<int> fds;
            const uint8_t op = in.u8() % 5;
            switch (op) {
                case 0: {
                    const unsigned n = in.u8() % 10;
                    vhost_user::MemoryTableHeader h{n, 0};
                    payload.resize(sizeof h);
                    std::memcpy(payload.data(), &h, sizeof h);
                    for (unsigned i = 0; i < n; ++i) region(in, payload, owned, fds);
                    driver->send(static_cast<uint32_t>(Request::kSetMemTable), kAck, payload, fds);
                    break;
                }
                case 1:
                case 2: {
                    const bool add = op == 1;
                    payload.resize(vhost_user::kSingleRegionPadding);
                    region(in, payload, owned, fds);
                    if (!add) fds.clear();
                    driver->send(static_cast<uint32_t>(add ? Request::kAddMemReg : Request::kRemMemReg), kAck, payload,
                                 fds);
                    break;
                }
                case 3: {
                    const uint32_t index = in.u8() % 3;
                    const uint32_t num = in.u16();
                    vhost_user::VringAddr a{};
                    a.index = index;
                    a.desc_user_addr = in.u64();
                    a.avail_user_addr = in.u64();
                    a.used_user_addr = in.u64();
                    UniqueFd call(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), kick(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
                    const int call_fd = call.get(), kick_fd = kick.get();
                    const uint64_t u = index;
                    driver->send_obj(Request::kSetVringNum, vhost_user::VringState{index, num}, {}, kAck);
                    driver->send_obj(Request::kSetVringBase, vhost_user::VringState{index, 0}, {}, kAck);
                    driver->send_obj(Request::kSetVringAddr, a, {}, kAck);
                    driver->send_obj(Request::kSetVringCall, u, {&call_fd, 1}, kAck);
                    driver->send_obj(Request::kSetVringKick, u, {&kick_fd, 1}, kAck);
                    driver->send_obj(Request::kSetVringEnable, vhost_user::VringState{index, 1}, {}, kAck);
                    break;
                }
                default: {
                    const size_t at = in.u32() % kMemfdBytes;
                    auto bytes = in.blob(4096);
                    const size_t n = std::min(bytes.size(), kMemfdBytes - at);
                    FUZZ_CHECK(::pwrite(guest.get(), bytes.data(), n, static_cast<off_t>(at)) == static_cast<ssize_t>(n),
                               "pwrite");
                    break;
                }
            }
            check_installed();
        }
        driver.reset();
        FUZZ_CHECK(runner.running() == 0, "rings left running after the session ended");
    }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log::set_level(log::Level::kError);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FdLeakGuard fd_guard;
    ByteReader in(data, size);
    switch (in.u8() % xen_part::kCount) {
        case xen_part::kFlagsPages: part_flags_pages(in); break;
        case xen_part::kMemory: part_memory(in); break;
        default: {
            SessionPart part;
            part.run(in);
            break;
        }
    }
    return 0;
}
