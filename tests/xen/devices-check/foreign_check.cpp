// Foreign map: dom0 maps a guest frame through privcmd, the path a back-end
// takes for a guest's memory when the front-end sends foreign regions.

#include <sys/mman.h>

#include <fmt/core.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "checks.hpp"
#include "handles.hpp"
#include "stopwatch.hpp"

namespace xenvhost::xencheck {
namespace {

// Far above any RAM this machine has: no guest owns it, and the guest has no
// I/O-memory permission, so Xen must refuse it per page.
constexpr xen_pfn_t kUnownedFrame = 0xfffffffffULL;

size_t nonzero_bytes(const uint8_t* page) {
    size_t n = 0;
    for (size_t i = 0; i < kXenPageSize; ++i) n += page[i] != 0;
    return n;
}

}  // namespace

Result<std::string> check_foreign_map(uint32_t domid, unsigned rounds) {
    if (rounds == 0) return fail("foreign check needs at least one round");
    XcHandle xc(xc_interface_open(nullptr, nullptr, 0));
    if (!xc) return fail_errno("xc_interface_open");
    xc_dominfo_t info{};
    int found = xc_domain_getinfo(xc.get(), domid, 1, &info);
    if (found != 1 || info.domid != domid)
        return fail("xc_domain_getinfo({}) found {} domains (first domid {})", domid, found, info.domid);
    xen_pfn_t frame = info.shared_info_frame;

    ForeignHandle fm(xenforeignmemory_open(nullptr, 0));
    if (!fm) return fail_errno("xenforeignmemory_open (/dev/xen/privcmd)");
    // A worker restricts its handle to its guest; check the mapping still works.
    if (xenforeignmemory_restrict(fm.get(), static_cast<domid_t>(domid)) != 0)
        return fail_errno("xenforeignmemory_restrict(dom{})", domid);

    // One batch: the same good frame twice and one unowned frame; only the
    // last page may fail, and err[] must say so.
    std::array<xen_pfn_t, 3> frames{frame, frame, kUnownedFrame};
    std::array<int, 3> err{-1, -1, 0};
    void* addr = xenforeignmemory_map(fm.get(), domid, PROT_READ, frames.size(), frames.data(), err.data());
    if (!addr) return fail_errno("xenforeignmemory_map(dom{}, {} frames)", domid, frames.size());
    ForeignMapping batch(fm.get(), addr, frames.size());
    if (err[0] != 0 || err[1] != 0)
        return fail("shared_info frame {:#x} of dom{}: err[] = {}, {}", frame, domid, err[0], err[1]);
    if (err[2] == 0) return fail("frame {:#x}, not owned by dom{}, was mapped", kUnownedFrame, domid);
    if (std::memcmp(batch.page(0), batch.page(1), kXenPageSize) != 0)
        return fail("two mappings of frame {:#x} differ", frame);
    size_t nonzero = nonzero_bytes(batch.page(0));
    if (nonzero == 0) return fail("shared_info of dom{} reads as all zeroes", domid);
    if (batch.reset() != 0) return fail_errno("xenforeignmemory_unmap");

    // The restricted handle must refuse any other domain.
    xen_pfn_t dom0_frame = frame;
    int dom0_err = 0;
    void* other = xenforeignmemory_map(fm.get(), 0, PROT_READ, 1, &dom0_frame, &dom0_err);
    if (other) {
        ForeignMapping guard(fm.get(), other, 1);
        if (dom0_err == 0) return fail("handle restricted to dom{} mapped a frame of dom0", domid);
    }
    int restricted_errno = other ? -dom0_err : errno;

    Stopwatch clock;
    for (unsigned r = 0; r < rounds; ++r) {
        int e = 0;
        void* m = xenforeignmemory_map(fm.get(), domid, PROT_READ, 1, &frame, &e);
        if (!m || e != 0) return fail("map round {}: {}", r, m ? std::strerror(-e) : std::strerror(errno));
        ForeignMapping timed(fm.get(), m, 1);
        // Touch the page so the cost of faulting the mapping in is counted.
        [[maybe_unused]] volatile uint8_t first = timed.page(0)[0];
    }
    double per_map = clock.elapsed_us() / rounds;

    return fmt::format(
        "dom{} shared_info frame {:#x} mapped twice in one batch ({} non-zero bytes, copies equal, "
        "max_pages {}); unowned frame refused per page (err {}); restricted handle refuses dom0 (errno {}); "
        "map+touch+unmap {:.1f} us ({} rounds)",
        domid, frame, nonzero, info.max_memkb / 4, err[2], restricted_errno, per_map, rounds);
}

}  // namespace xenvhost::xencheck
