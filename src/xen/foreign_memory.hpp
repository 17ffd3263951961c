#pragma once
// RAII over libxenforeignmemory (/dev/xen/privcmd): batched foreign mappings
// of a guest's frames, restricted to that guest.

#include "base/error.hpp"

#include <cstdint>
#include <memory>
#include <span>

namespace xenvhost::xen {

class ForeignMemory;

class ForeignMapping {
public:
    ForeignMapping() = default;
    ForeignMapping(std::shared_ptr<ForeignMemory> fm, void* addr, size_t pages)
        : fm_(std::move(fm)), addr_(addr), pages_(pages) {}
    ForeignMapping(const ForeignMapping&) = delete;
    ForeignMapping& operator=(const ForeignMapping&) = delete;
    ForeignMapping(ForeignMapping&& o) noexcept { *this = std::move(o); }
    ForeignMapping& operator=(ForeignMapping&& o) noexcept;
    ~ForeignMapping() { reset(); }

    uint8_t* data() const { return static_cast<uint8_t*>(addr_); }
    size_t pages() const { return pages_; }
    void reset();

private:
    std::shared_ptr<ForeignMemory> fm_;
    void* addr_ = nullptr;
    size_t pages_ = 0;
};

// A hypervisor resource of a guest mapped into this process (an ioreq
// server's page); unmapped with the object.
class ResourceMapping {
public:
    ResourceMapping() = default;
    ResourceMapping(std::shared_ptr<ForeignMemory> fm, void* resource, void* addr)
        : fm_(std::move(fm)), resource_(resource), addr_(addr) {}
    ResourceMapping(const ResourceMapping&) = delete;
    ResourceMapping& operator=(const ResourceMapping&) = delete;
    ResourceMapping(ResourceMapping&& o) noexcept { *this = std::move(o); }
    ResourceMapping& operator=(ResourceMapping&& o) noexcept;
    ~ResourceMapping() { reset(); }

    void* data() const { return addr_; }
    void reset();

private:
    std::shared_ptr<ForeignMemory> fm_;
    void* resource_ = nullptr;  // xenforeignmemory_resource_handle*
    void* addr_ = nullptr;
};

class ForeignMemory : public std::enable_shared_from_this<ForeignMemory> {
public:
    static Result<std::shared_ptr<ForeignMemory>> open();
    ~ForeignMemory();

    // Limits this handle to one guest; later maps of any other domain fail in the kernel.
    Result<> restrict_to(uint32_t domid);
    // Maps `frames` of `domid` with one batch; a frame that cannot be mapped
    // (per-page error) fails the whole call, naming the first bad frame.
    // `errs` (at least one entry per frame) receives the per-frame errors: the
    // caller's storage, so that a map allocates nothing.
    Result<ForeignMapping> map(uint32_t domid, std::span<const uint64_t> frames, bool writable,
                               std::span<int> errs);

    // Maps `frames` frames of resource `type`/`id` of `domid` (for example an
    // ioreq server's page), read-write.
    Result<ResourceMapping> map_resource(uint32_t domid, unsigned type, unsigned id, unsigned long frame,
                                         unsigned long frames);

    explicit ForeignMemory(void* handle) : handle_(handle) {}

private:
    friend class ForeignMapping;
    friend class ResourceMapping;
    void* handle_;  // xenforeignmemory_handle*
};

}  // namespace xenvhost::xen
