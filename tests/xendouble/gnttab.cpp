// libxengnttab, as the worker calls it, over the guest state files: a grant
// ref is a page of the memory file, granted read-only or writable to the
// domain in $XENDOUBLE_DOMID by the `grants` byte of that page.

#include "xendouble/page_mapper.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

extern "C" {  // the headers have no C++ guards
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xengnttab.h>
}

#include <cerrno>
#include <memory>
#include <vector>

using xenvhost::UniqueFd;
using namespace xenvhost::xendouble;

// The header names the handle struct xengntdev_handle (xengnttab_handle is a typedef).
struct xengntdev_handle {
    std::unique_ptr<PageMapper> mapper;
    UniqueFd dev;  // what xengnttab_fd returns: /dev/null stands in for gntdev
};

namespace {

// One map call, all refs or nothing: a ref that is not granted, granted
// read-only to a writable map, or of another domain fails the whole call
// with EINVAL, the way gntdev fails the mmap after MAP_GRANT_REF.
void* map_refs(xengnttab_handle* h, uint32_t count, const uint32_t* domids, uint32_t domid, const uint32_t* refs,
               int prot) {
    const GuestState& s = h->mapper->state();
    s.count(kGrantMapCalls);
    std::vector<uint64_t> pages;
    pages.reserve(count);
    int error = count == 0 ? EINVAL : 0;
    for (uint32_t i = 0; i < count && !error; ++i) {
        const uint32_t d = domids ? domids[i] : domid;
        const GrantState g = s.grant(refs[i]);
        if (d != s.domid()) {
            note(false, "map: ref %u of domain %u, the guest is domain %u", refs[i], d, s.domid());
            error = EINVAL;
        } else if (g == kNotGranted) {
            note(false, "map: ref %u is not granted", refs[i]);
            error = EINVAL;
        } else if ((prot & PROT_WRITE) && g != kGrantedWritable) {
            note(false, "map: ref %u is granted read-only, mapped writable", refs[i]);
            error = EINVAL;
        }
        pages.push_back(refs[i]);
    }
    void* addr = error ? nullptr : h->mapper->map(pages, {}, prot);
    if (!addr) {
        if (!error) error = errno;
        s.count(kFailures);
        errno = error;
        return nullptr;
    }
    s.count(kGrantPagesMapped, count);
    note(false, "map: %u refs from %u at %p", count, refs[0], addr);
    return addr;
}

// One segment of a grant copy, as Xen's GNTTABOP_copy checks it: the grant
// side inside one page, granted to this domain (writable to be written);
// the data goes through the memory file, as the hypervisor copies it.
int16_t copy_segment(const GuestState& s, const xengnttab_grant_copy_segment_t& seg) {
    const bool from_grant = seg.flags & GNTCOPY_source_gref;
    const bool to_grant = seg.flags & GNTCOPY_dest_gref;
    if (from_grant == to_grant) return GNTST_general_error;  // the double copies between a grant and local memory
    const auto& g = from_grant ? seg.source.foreign : seg.dest.foreign;
    if (g.offset + seg.len > kPageSize) return GNTST_bad_copy_arg;
    if (g.domid != s.domid() || g.ref >= s.pages()) return GNTST_bad_gntref;
    const GrantState state = s.grant(g.ref);
    if (state == kNotGranted) return GNTST_bad_gntref;
    if (to_grant && state != kGrantedWritable) return GNTST_permission_denied;
    const off_t at = static_cast<off_t>(g.ref * kPageSize + g.offset);
    const ssize_t n = from_grant ? ::pread(s.memory_fd(), seg.dest.virt, seg.len, at)
                                 : ::pwrite(s.memory_fd(), seg.source.virt, seg.len, at);
    return n == seg.len ? GNTST_okay : GNTST_general_error;
}

}  // namespace

extern "C" {

xengnttab_handle* xengnttab_open(struct xentoollog_logger*, unsigned) {
    auto state = GuestState::open_from_env("xengnttab_open");
    if (!state) return nullptr;
    auto h = std::make_unique<xengnttab_handle>();
    h->dev = UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!h->dev) return nullptr;
    h->mapper = std::make_unique<PageMapper>(std::move(state));
    return h.release();  // owned by the caller until xengnttab_close
}

int xengnttab_close(xengnttab_handle* xgt) {
    std::unique_ptr<xengnttab_handle> owned(xgt);
    return 0;
}

int xengnttab_fd(xengnttab_handle* xgt) { return xgt->dev.get(); }

int xengnttab_set_max_grants(xengnttab_handle*, uint32_t) { return 0; }

void* xengnttab_map_grant_ref(xengnttab_handle* xgt, uint32_t domid, uint32_t ref, int prot) {
    return map_refs(xgt, 1, nullptr, domid, &ref, prot);
}

void* xengnttab_map_grant_refs(xengnttab_handle* xgt, uint32_t count, uint32_t* domids, uint32_t* refs, int prot) {
    return map_refs(xgt, count, domids, 0, refs, prot);
}

void* xengnttab_map_domain_grant_refs(xengnttab_handle* xgt, uint32_t count, uint32_t domid, uint32_t* refs,
                                      int prot) {
    return map_refs(xgt, count, nullptr, domid, refs, prot);
}

// The notification is a guest-facing side effect this double has no guest for.
void* xengnttab_map_grant_ref_notify(xengnttab_handle* xgt, uint32_t domid, uint32_t ref, int prot, uint32_t,
                                     evtchn_port_t) {
    return map_refs(xgt, 1, nullptr, domid, &ref, prot);
}

// Like gntdev's copy ioctl: every segment is tried and gets its own status;
// the call itself succeeds.
int xengnttab_grant_copy(xengnttab_handle* xgt, uint32_t count, xengnttab_grant_copy_segment_t* segs) {
    const GuestState& s = xgt->mapper->state();
    s.count(kGrantCopyCalls);
    s.count(kGrantCopySegments, count);
    for (uint32_t i = 0; i < count; ++i) {
        segs[i].status = copy_segment(s, segs[i]);
        if (segs[i].status != GNTST_okay) {
            s.count(kGrantCopyFailedSegments);
            note(false, "copy: segment %u (ref %u) failed with %d", i,
                 (segs[i].flags & GNTCOPY_source_gref) ? segs[i].source.foreign.ref : segs[i].dest.foreign.ref,
                 segs[i].status);
        }
    }
    note(false, "copy: %u segments", count);
    return 0;
}

int xengnttab_unmap(xengnttab_handle* xgt, void* start_address, uint32_t count) {
    xgt->mapper->state().count(kGrantUnmapCalls);
    return xgt->mapper->unmap(start_address, count);
}

}  // extern "C"
