#pragma once
// One guest memory region as the front-end described it, and how it is mapped.

#include "base/error.hpp"
#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "memory/xen_address.hpp"

#include <cstdint>
#include <memory>
#include <span>

namespace xenvhost::memory {

// The region description of SET_MEM_TABLE / ADD_MEM_REG, in either layout.
struct RegionDesc {
    uint64_t gpa = 0;
    uint64_t size = 0;
    uint64_t uaddr = 0;
    uint64_t mmap_offset = 0;
    XenRegionKind kind = XenRegionKind::kPlain;  // plain regions are mmap()ed whole
    bool no_advance_map = false;                 // the front-end forbids mapping it whole
    uint32_t domid = 0;                          // the guest owning a Xen region
};

// Checks that apply to every region: non-empty, no address arithmetic overflow.
Result<> validate_region(const RegionDesc& desc);

// A region of guest memory. Plain regions are mapped whole; Xen regions carry
// no mapping of their own (pages are mapped on demand by a mapper).
class Region {
public:
    // mmaps [mmap_offset, mmap_offset+size) of fd; checks the fd is big enough
    // first, so a lying front-end cannot make the worker fault on access.
    static Result<std::shared_ptr<const Region>> map_plain(const RegionDesc& desc, int fd);
    // A Xen region: recorded, not mapped.
    static std::shared_ptr<const Region> unmapped(const RegionDesc& desc);
    // A Xen region mapped whole by someone else: `owner` keeps `host` mapped.
    static std::shared_ptr<const Region> mapped_whole(const RegionDesc& desc, uint8_t* host,
                                                      std::shared_ptr<const void> owner);

    const RegionDesc& desc() const { return desc_; }
    uint64_t gpa() const { return desc_.gpa; }
    uint64_t size() const { return desc_.size; }
    uint64_t gpa_end() const { return desc_.gpa + desc_.size; }  // exclusive
    uint64_t uaddr() const { return desc_.uaddr; }
    // No-advance-map regions have no front-end mapping, so no user address
    // (xen-vhost-frontend sends 0); every other region's user address counts,
    // even 0 (guest RAM at address 0 described by its guest address).
    bool has_uaddr() const { return !desc_.no_advance_map; }
    // Host address of the region's first byte; nullptr if not mapped.
    uint8_t* host() const { return host_; }
    bool mapped() const { return host_ != nullptr; }

    Region(const RegionDesc& desc, Mapping mapping, uint8_t* host, std::shared_ptr<const void> owner = {})
        : desc_(desc), mapping_(std::move(mapping)), owner_(std::move(owner)), host_(host) {}

private:
    RegionDesc desc_;
    Mapping mapping_;
    std::shared_ptr<const void> owner_;
    uint8_t* host_ = nullptr;
};

}  // namespace xenvhost::memory
