#include "xen/grant_table.hpp"

#include <sys/mman.h>

extern "C" {  // the headers have no C++ guards
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xengnttab.h>
}

#include <cstddef>
#include <utility>

namespace xenvhost::xen {

static_assert(sizeof(GrantCopySegment) == sizeof(xengnttab_grant_copy_segment_t));
static_assert(offsetof(GrantCopySegment, source) == offsetof(xengnttab_grant_copy_segment_t, source));
static_assert(offsetof(GrantCopySegment, dest) == offsetof(xengnttab_grant_copy_segment_t, dest));
static_assert(offsetof(GrantCopySegment, len) == offsetof(xengnttab_grant_copy_segment_t, len));
static_assert(offsetof(GrantCopySegment, flags) == offsetof(xengnttab_grant_copy_segment_t, flags));
static_assert(offsetof(GrantCopySegment, status) == offsetof(xengnttab_grant_copy_segment_t, status));
static_assert(offsetof(GrantCopySegment::Grant, offset) == offsetof(xengnttab_grant_copy_segment_t, source.foreign.offset));
static_assert(offsetof(GrantCopySegment::Grant, domid) == offsetof(xengnttab_grant_copy_segment_t, source.foreign.domid));
static_assert(kCopySourceGrant == GNTCOPY_source_gref && kCopyDestGrant == GNTCOPY_dest_gref);

namespace {
xengnttab_handle* h(void* p) { return static_cast<xengnttab_handle*>(p); }
}  // namespace

GrantMapping& GrantMapping::operator=(GrantMapping&& o) noexcept {
    if (this != &o) {
        reset();
        table_ = std::move(o.table_);
        addr_ = std::exchange(o.addr_, nullptr);
        count_ = std::exchange(o.count_, 0);
    }
    return *this;
}

void GrantMapping::reset() {
    if (addr_) xengnttab_unmap(h(table_->handle_), addr_, count_);
    addr_ = nullptr;
    count_ = 0;
    table_.reset();
}

Result<std::shared_ptr<GrantTable>> GrantTable::open() {
    xengnttab_handle* handle = xengnttab_open(nullptr, 0);
    if (!handle) return fail_errno("xengnttab_open (/dev/xen/gntdev)");
    return std::make_shared<GrantTable>(handle);
}

GrantTable::~GrantTable() { xengnttab_close(h(handle_)); }

int GrantTable::fd() const { return xengnttab_fd(h(handle_)); }

Result<GrantMapping> GrantTable::map(uint32_t domid, std::span<const uint32_t> refs, bool writable) {
    if (refs.empty()) return fail("no grant refs to map");
    void* addr = xengnttab_map_domain_grant_refs(h(handle_), static_cast<uint32_t>(refs.size()), domid,
                                                 const_cast<uint32_t*>(refs.data()),
                                                 PROT_READ | (writable ? PROT_WRITE : 0));
    if (!addr) return fail_errno("grant map of {} refs from domain {}", refs.size(), domid);
    return GrantMapping(shared_from_this(), addr, static_cast<uint32_t>(refs.size()));
}

Result<> GrantTable::copy(std::span<GrantCopySegment> segments) {
    if (segments.empty()) return {};
    auto* segs = reinterpret_cast<xengnttab_grant_copy_segment_t*>(segments.data());
    if (xengnttab_grant_copy(h(handle_), static_cast<uint32_t>(segments.size()), segs) != 0)
        return fail_errno("grant copy of {} segments", segments.size());
    return {};
}

}  // namespace xenvhost::xen
