#pragma once
// RAII over libxengnttab (/dev/xen/gntdev): batched grant mappings and grant copies.

#include "base/error.hpp"

#include <cstdint>
#include <memory>
#include <span>


namespace xenvhost::xen {

class GrantTable;

// One segment of a grant copy, laid out as libxengnttab's
// xengnttab_grant_copy_segment_t (grant_table.cpp checks it), so a batch
// goes to gntdev without conversion. The grant side must stay in one page.
struct GrantCopySegment {
    struct Grant {
        uint32_t ref;
        uint16_t offset;
        uint16_t domid;
    };
    union Ptr {
        void* virt;
        Grant grant;
    };
    Ptr source;
    Ptr dest;
    uint16_t len;
    uint16_t flags;  // kCopySourceGrant or kCopyDestGrant
    int16_t status;  // Xen's GNTST_*: 0 is success
};
inline constexpr uint16_t kCopySourceGrant = 1;  // GNTCOPY_source_gref
inline constexpr uint16_t kCopyDestGrant = 2;    // GNTCOPY_dest_gref

// Pages mapped by one xengnttab call; unmapped (munmap + UNMAP_GRANT_REF) on destruction.
class GrantMapping {
public:
    GrantMapping() = default;
    GrantMapping(std::shared_ptr<GrantTable> table, void* addr, uint32_t count)
        : table_(std::move(table)), addr_(addr), count_(count) {}
    GrantMapping(const GrantMapping&) = delete;
    GrantMapping& operator=(const GrantMapping&) = delete;
    GrantMapping(GrantMapping&& o) noexcept { *this = std::move(o); }
    GrantMapping& operator=(GrantMapping&& o) noexcept;
    ~GrantMapping() { reset(); }

    uint8_t* data() const { return static_cast<uint8_t*>(addr_); }
    uint32_t pages() const { return count_; }
    void reset();

private:
    std::shared_ptr<GrantTable> table_;
    void* addr_ = nullptr;
    uint32_t count_ = 0;
};

class GrantTable : public std::enable_shared_from_this<GrantTable> {
public:
    static Result<std::shared_ptr<GrantTable>> open();
    ~GrantTable();

    // Maps every ref of `domid` with one call; the pages appear contiguously in ref order.
    Result<GrantMapping> map(uint32_t domid, std::span<const uint32_t> refs, bool writable);
    // Every segment with one call (one gntdev ioctl). Fails only if the call
    // itself failed; each segment's own result is in its status.
    Result<> copy(std::span<GrantCopySegment> segments);
    // The gntdev fd behind the handle (to recognise the device in fds a front-end sends).
    int fd() const;

    explicit GrantTable(void* handle) : handle_(handle) {}

private:
    friend class GrantMapping;
    void* handle_;  // xengnttab_handle*
};

}  // namespace xenvhost::xen
