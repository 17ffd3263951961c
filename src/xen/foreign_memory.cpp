#include "xen/foreign_memory.hpp"

#include "xen/privilege.hpp"

#include <sys/mman.h>

#define __XEN_TOOLS__ 1  // the public headers want it; xenctrl.h (which sets it) is not C++-clean
extern "C" {  // the header has no C++ guards
#include <xenforeignmemory.h>
}

#include <algorithm>
#include <cerrno>
#include <type_traits>
#include <utility>

namespace xenvhost::xen {
namespace {
xenforeignmemory_handle* h(void* p) { return static_cast<xenforeignmemory_handle*>(p); }
}  // namespace

ForeignMapping& ForeignMapping::operator=(ForeignMapping&& o) noexcept {
    if (this != &o) {
        reset();
        fm_ = std::move(o.fm_);
        addr_ = std::exchange(o.addr_, nullptr);
        pages_ = std::exchange(o.pages_, 0);
    }
    return *this;
}

void ForeignMapping::reset() {
    if (addr_) xenforeignmemory_unmap(h(fm_->handle_), addr_, pages_);
    addr_ = nullptr;
    pages_ = 0;
    fm_.reset();
}

ResourceMapping& ResourceMapping::operator=(ResourceMapping&& o) noexcept {
    if (this != &o) {
        reset();
        fm_ = std::move(o.fm_);
        resource_ = std::exchange(o.resource_, nullptr);
        addr_ = std::exchange(o.addr_, nullptr);
    }
    return *this;
}

void ResourceMapping::reset() {
    if (resource_)
        xenforeignmemory_unmap_resource(h(fm_->handle_), static_cast<xenforeignmemory_resource_handle*>(resource_));
    resource_ = nullptr;
    addr_ = nullptr;
    fm_.reset();
}

Result<std::shared_ptr<ForeignMemory>> ForeignMemory::open() {
    xenforeignmemory_handle* handle = xenforeignmemory_open(nullptr, 0);
    if (!handle) return fail_errno("xenforeignmemory_open (/dev/xen/privcmd)");
    return std::make_shared<ForeignMemory>(handle);
}

ForeignMemory::~ForeignMemory() { xenforeignmemory_close(h(handle_)); }

Result<> ForeignMemory::restrict_to(uint32_t domid) {
    if (xenforeignmemory_restrict(h(handle_), static_cast<domid_t>(domid)) < 0)
        return fail_errno("restricting privcmd to domain {}", domid);
    return {};
}

Result<ResourceMapping> ForeignMemory::map_resource(uint32_t domid, unsigned type, unsigned id, unsigned long frame,
                                                    unsigned long frames) {
    void* addr = nullptr;
    xenforeignmemory_resource_handle* res = xenforeignmemory_map_resource(
        h(handle_), static_cast<domid_t>(domid), type, id, frame, frames, &addr, PROT_READ | PROT_WRITE, 0);
    if (!res) return fail_errno("mapping resource {} id {} frame {} of domain {}", type, id, frame, domid);
    return ResourceMapping(shared_from_this(), res, addr);
}

// The frame list goes to the library as it is, without a converted copy.
static_assert(std::is_same_v<xen_pfn_t, uint64_t>, "xen_pfn_t is not a 64-bit frame number here");

Result<ForeignMapping> ForeignMemory::map(uint32_t domid, std::span<const uint64_t> frames, bool writable,
                                          std::span<int> errs) {
    if (frames.empty()) return fail("no frames to map");
    if (errs.size() < frames.size()) return fail("room for {} errors to map {} frames", errs.size(), frames.size());
    const auto err = errs.first(frames.size());
    std::fill(err.begin(), err.end(), 0);
    // The library takes a non-const list but only reads it.
    void* addr = xenforeignmemory_map(h(handle_), domid, PROT_READ | (writable ? PROT_WRITE : 0), frames.size(),
                                      const_cast<xen_pfn_t*>(frames.data()), err.data());
    // EPERM: this domain has no privilege over the guest (a driver domain
    // under the default XSM policy), which no retry changes.
    if (!addr && errno == EPERM) return std::unexpected(Error{foreign_map_refused(domid), EPERM, ErrorKind::kMapFailure});
    if (!addr) return fail_errno("foreign map of {} frames of domain {}", frames.size(), domid);
    ForeignMapping mapping(shared_from_this(), addr, frames.size());
    for (size_t i = 0; i < err.size(); ++i) {
        if (err[i] == -EPERM) return std::unexpected(Error{foreign_map_refused(domid), EPERM, ErrorKind::kMapFailure});
        if (err[i])
            return std::unexpected(Error{
                fmt::format("frame {:#x} of domain {} could not be mapped (error {})", frames[i], domid, err[i]),
                -err[i], ErrorKind::kMapFailure});
    }
    return mapping;
}

}  // namespace xenvhost::xen
