// xenforeignmemory_map_resource for the one resource a device model maps:
// the ioreq server's page (XENMEM_resource_ioreq_server, frame
// XENMEM_resource_ioreq_server_frame_ioreq(0)), a real MAP_SHARED view of
// the `ioreq` file that the test playing the guest's vCPUs maps too. Other
// resources fail with EOPNOTSUPP, as on a kernel without the resource ioctl.

#include "xendouble/foreign_handle.hpp"
#include "xendouble/guest_state.hpp"

#include <sys/mman.h>

extern "C" {
#include <xen/memory.h>  // XENMEM_resource_*
}

#include <cerrno>
#include <cstring>

using namespace xenvhost::xendouble;

struct xenforeignmemory_resource_handle {
    std::shared_ptr<IoreqState> state;
    void* addr = nullptr;
    size_t size = 0;
};

namespace {

xenforeignmemory_resource_handle* refuse(const std::shared_ptr<IoreqState>& s, int e, const char* why) {
    if (s) s->count(kDmFailures);
    note(false, "map_resource: %s: %s", why, std::strerror(e));
    errno = e;
    return nullptr;
}

}  // namespace

extern "C" {

xenforeignmemory_resource_handle* xenforeignmemory_map_resource(xenforeignmemory_handle* fmem, domid_t domid,
                                                                unsigned type, unsigned id, unsigned long frame,
                                                                unsigned long nr_frames, void** paddr, int prot,
                                                                int flags) {
    std::shared_ptr<IoreqState> s;
    std::optional<uint32_t> restricted;
    {
        std::lock_guard lock(fmem->mutex);
        if (!fmem->ioreq) fmem->ioreq = IoreqState::open_from_env("xenforeignmemory_map_resource");
        s = fmem->ioreq;
        restricted = fmem->restricted;
    }
    if (!s) return nullptr;  // open_from_env said why
    if (int e = domain_error(s->domid(), restricted ? int64_t{*restricted} : -1, domid))
        return refuse(s, e, "domain");
    if (type != XENMEM_resource_ioreq_server) return refuse(s, EOPNOTSUPP, "only the ioreq server's page is modelled");
    {
        auto lock = s->lock();
        const DmState& dm = s->dm();
        if (!dm.server_exists || dm.server_id != id) return refuse(s, ENOENT, "no such ioreq server");
    }
    // Xen: frame 0 is the buffered page (none without buffering), then one
    // frame of synchronous ioreqs; the double's vCPUs fit in one page.
    if (frame == XENMEM_resource_ioreq_server_frame_bufioreq) return refuse(s, ENOENT, "no buffered ioreq page");
    if (frame != XENMEM_resource_ioreq_server_frame_ioreq(0) || nr_frames != 1)
        return refuse(s, EINVAL, "frames beyond the ioreq page");
    auto res = std::make_unique<xenforeignmemory_resource_handle>();
    // As libxenforeignmemory: *paddr is a placement hint, flags go to mmap.
    void* addr = ::mmap(*paddr, kPageSize, prot, flags | MAP_SHARED, s->ioreq_fd(), 0);
    if (addr == MAP_FAILED) return refuse(s, errno, "mmap");
    res->state = s;
    res->addr = *paddr = addr;
    res->size = kPageSize;
    std::atomic_ref<uint32_t>(s->dm().page_maps).fetch_add(1, std::memory_order_release);
    note(false, "map_resource: ioreq page of server %u at %p", id, addr);
    return res.release();  // owned by the caller until xenforeignmemory_unmap_resource
}

int xenforeignmemory_unmap_resource(xenforeignmemory_handle*, xenforeignmemory_resource_handle* fres) {
    if (!fres) return 0;
    std::unique_ptr<xenforeignmemory_resource_handle> owned(fres);
    if (::munmap(fres->addr, fres->size) != 0) return -1;
    std::atomic_ref<uint32_t>(fres->state->dm().page_maps).fetch_sub(1, std::memory_order_release);
    return 0;
}

}  // extern "C"
