// libxenforeignmemory, as the worker calls it, over the guest state files:
// guest frame N is page N of the memory file; a frame marked missing in
// `frames` (or beyond the guest's memory) fails with a per-page error.

#include "xendouble/foreign_handle.hpp"
#include "xendouble/ioreq_layout.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

using xenvhost::UniqueFd;
using namespace xenvhost::xendouble;

namespace {

void* map_frames(xenforeignmemory_handle* h, uint32_t dom, int prot, size_t pages, const xen_pfn_t arr[], int err[]) {
    const GuestState& s = h->mapper->state();
    s.count(kForeignMapCalls);
    auto failed = [&](int e) -> void* {
        s.count(kFailures);
        errno = e;
        return nullptr;
    };
    if (pages == 0) return failed(EINVAL);
    std::optional<uint32_t> restricted;
    {
        std::lock_guard lock(h->mutex);
        restricted = h->restricted;
    }
    // privcmd refuses every domain but the one the handle is restricted to;
    // a restriction to a domain that is not this guest refuses this guest too.
    if (restricted && (*restricted != dom || *restricted != s.domid())) {
        note(false, "foreign map of domain %u on a handle restricted to %u", dom, *restricted);
        return failed(EPERM);
    }
    if (dom != s.domid()) {
        note(false, "foreign map of domain %u, the guest is domain %u", dom, s.domid());
        return failed(ESRCH);
    }
    std::vector<uint64_t> frames(arr, arr + pages);
    std::vector<bool> skip(pages, false);
    size_t bad = 0;
    int first_error = 0;
    const char* foreign = std::getenv(kForeignEnv);
    const bool refused = foreign && std::strcmp(foreign, "refused") == 0;
    for (size_t i = 0; i < pages; ++i) {
        int e = 0;
        if (refused) {
            e = EPERM;
        } else if (arr[i] >= s.pages()) {
            e = EINVAL;
        } else if (s.frame_missing(arr[i])) {
            e = ENOENT;
        }
        if (e) {
            skip[i] = true;
            ++bad;
            if (!first_error) first_error = e;
        }
        if (err) err[i] = -e;
    }
    // Without err[] any failed page fails the whole call.
    if (bad && !err) return failed(first_error);
    if (bad == pages) {
        // Nothing to map, but the caller still gets per-page errors and a
        // reservation to unmap, as from privcmd.
        note(false, "foreign map: all %zu frames failed", pages);
    }
    void* addr = h->mapper->map(frames, skip, prot);
    if (!addr) return failed(errno);
    if (bad) s.count(kFailures);
    s.count(kForeignPagesMapped, pages - bad);
    note(false, "foreign map: %zu frames from %#llx at %p (%zu failed)", pages,
         static_cast<unsigned long long>(arr[0]), addr, bad);
    return addr;
}

}  // namespace

extern "C" {

xenforeignmemory_handle* xenforeignmemory_open(struct xentoollog_logger*, unsigned) {
    auto state = GuestState::open_from_env("xenforeignmemory_open");
    if (!state) return nullptr;
    auto h = std::make_unique<xenforeignmemory_handle>();
    h->dev = UniqueFd(::open("/dev/zero", O_RDWR | O_CLOEXEC));
    if (!h->dev) return nullptr;
    h->mapper = std::make_unique<PageMapper>(std::move(state));
    return h.release();  // owned by the caller until xenforeignmemory_close
}

int xenforeignmemory_close(xenforeignmemory_handle* fmem) {
    std::unique_ptr<xenforeignmemory_handle> owned(fmem);
    return 0;
}

int xenforeignmemory_restrict(xenforeignmemory_handle* fmem, domid_t domid) {
    std::lock_guard lock(fmem->mutex);
    // privcmd: a handle is restricted once; another domain later is EINVAL.
    // A domU's kernel restricts every handle to the domain's xenstore target
    // (XSA-482's fix): XENDOUBLE_DM_ACCESS=restricted.
    const char* access = std::getenv(kDmAccessEnv);
    if ((fmem->restricted && *fmem->restricted != domid) || (access && std::strcmp(access, "restricted") == 0)) {
        errno = EINVAL;
        return -1;
    }
    fmem->restricted = domid;
    note(false, "foreign handle restricted to domain %u", domid);
    return 0;
}

void* xenforeignmemory_map(xenforeignmemory_handle* fmem, uint32_t dom, int prot, size_t pages, const xen_pfn_t arr[],
                           int err[]) {
    return map_frames(fmem, dom, prot, pages, arr, err);
}

// Placement hints are not supported: only addr == NULL without flags.
void* xenforeignmemory_map2(xenforeignmemory_handle* fmem, uint32_t dom, void* addr, int prot, int flags,
                            size_t pages, const xen_pfn_t arr[], int err[]) {
    if (addr || flags) {
        fmem->mapper->state().count(kForeignMapCalls);
        fmem->mapper->state().count(kFailures);
        errno = EINVAL;
        return nullptr;
    }
    return map_frames(fmem, dom, prot, pages, arr, err);
}

int xenforeignmemory_unmap(xenforeignmemory_handle* fmem, void* addr, size_t pages) {
    fmem->mapper->state().count(kForeignUnmapCalls);
    return fmem->mapper->unmap(addr, pages);
}

}  // extern "C"
