#include "xen/grant_table.hpp"

#include <sys/mman.h>

extern "C" {  // the header has no C++ guards
#include <xengnttab.h>
}

#include <utility>

namespace xenvhost::xen {
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

}  // namespace xenvhost::xen
