#include "frontend/memory_table.hpp"

#include "frontend/grant_layout.hpp"
#include "frontend/region_devices.hpp"

#include <cstring>

namespace xenvhost::vhost_frontend {

namespace vu = vhost_user;
namespace flag = vhost_user::xen_mmap_flag;

namespace {

bool inside(uint64_t addr, uint64_t len, uint64_t base, uint64_t size) {
    return addr >= base && len <= size && addr - base <= size - len;
}

Result<> check_ram(const std::vector<RamRange>& ram) {
    if (ram.empty()) return fail_as(ErrorKind::kPolicy, "no guest RAM ranges given");
    if (ram.size() > vu::kMaxFds)
        return fail_as(ErrorKind::kPolicy, "{} RAM ranges, one memory table holds {}", ram.size(), vu::kMaxFds);
    uint64_t end = 0;
    for (size_t i = 0; i < ram.size(); ++i) {
        const RamRange& r = ram[i];
        if (r.size == 0 || r.gpa % kXenPageSize || r.size % kXenPageSize || r.gpa + r.size < r.gpa)
            return fail_as(ErrorKind::kPolicy, "RAM range {:#x}+{:#x} is empty, unaligned or wraps", r.gpa, r.size);
        if (i > 0 && r.gpa < end)
            return fail_as(ErrorKind::kPolicy, "RAM range {:#x} is out of order or overlaps the one before", r.gpa);
        end = r.gpa + r.size;
    }
    return {};
}

}  // namespace

Result<> check_layout(const FrontendConfig& cfg) {
    if (cfg.region_kind == RegionKind::kForeign) return check_ram(cfg.ram);
    if (cfg.grant_space_size == 0 || cfg.grant_space_size % kXenPageSize || cfg.grant_space_size > kMaxGrantSpace)
        return fail_as(ErrorKind::kPolicy, "grant space of {:#x} bytes is empty, unaligned or beyond 32-bit grant refs",
                       cfg.grant_space_size);
    return {};
}

std::vector<RingArea> ring_areas(const transport::QueueConfig& q) {
    const uint64_t n = q.size;
    return {{q.desc, 16 * n}, {q.driver, 6 + 2 * n}, {q.device, 6 + 8 * n}};
}

Result<> check_rings(const FrontendConfig& cfg, std::span<const transport::QueueConfig> queues) {
    for (const auto& q : queues) {
        for (const RingArea& a : ring_areas(q)) {
            bool ok = false;
            if (cfg.region_kind == RegionKind::kGrant) {
                ok = inside(a.addr, a.len, kGrantSpaceBase, cfg.grant_space_size);
            } else {
                for (const RamRange& r : cfg.ram) ok = ok || inside(a.addr, a.len, r.gpa, r.size);
            }
            if (!ok)
                return fail_as(ErrorKind::kGuestFault, "queue {}: ring at {:#x}+{:#x} is not in guest memory", q.index,
                               a.addr, a.len);
        }
    }
    return {};
}

Result<> MemoryTable::add(const FrontendConfig& cfg, uint64_t addr, uint64_t size, uint32_t flags) {
    if (regions_.size() == vu::kMaxFds)
        return fail_as(ErrorKind::kPolicy, "the memory table needs more than {} regions", vu::kMaxFds);
    if (!cfg.region_devices) return fail("no privcmd or gntdev device to send with the memory table");
    // A duplicate: the device model opened the devices before its drop and can open nothing now.
    auto fd = cfg.region_devices->duplicate(cfg.region_kind);
    if (!fd) return pass(fd.error());
    vu::XenMemoryRegion r{};
    r.base = {addr, size, addr, 0};
    r.xen_mmap_flags = flags;
    r.domid = cfg.domid;
    regions_.push_back(r);
    fds_.push_back(std::move(*fd));
    return {};
}

Result<MemoryTable> MemoryTable::build(const FrontendConfig& cfg, std::span<const transport::QueueConfig> queues) {
    if (auto r = check_layout(cfg); !r) return pass(r.error());
    if (auto r = check_rings(cfg, queues); !r) return pass(r.error());
    MemoryTable t;
    if (cfg.region_kind == RegionKind::kForeign) {
        for (const RamRange& r : cfg.ram)
            if (auto a = t.add(cfg, r.gpa, r.size, flag::kForeign); !a) return pass(a.error());
        return t;
    }
    for (const GrantSpan& s : grant_spans(queues, cfg.grant_space_size, vu::kMaxFds)) {
        const uint32_t flags = flag::kGrant | (s.ring ? 0 : flag::kNoAdvanceMapDeployed);
        if (auto a = t.add(cfg, s.addr, s.len, flags); !a) return pass(a.error());
    }
    return t;
}

Result<> MemoryTable::send(RequestClient& client) const {
    const vu::MemoryTableHeader h{static_cast<uint32_t>(regions_.size()), 0};
    std::vector<uint8_t> payload(sizeof h + regions_.size() * sizeof(vu::XenMemoryRegion));
    std::memcpy(payload.data(), &h, sizeof h);
    std::memcpy(payload.data() + sizeof h, regions_.data(), regions_.size() * sizeof(vu::XenMemoryRegion));
    std::vector<int> fds;
    for (const auto& fd : fds_) fds.push_back(fd.get());
    return client.send(vu::Request::kSetMemTable, payload, fds);
}

}  // namespace xenvhost::vhost_frontend
