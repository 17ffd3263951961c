#pragma once
// A virtio-blk driver for a Xen guest on one split queue. Buffers are laid
// out and granted the way Linux's grant DMA layer treats virtio-blk: the
// request header granted read-only, the status byte writable, data read-only
// for a write and writable for a read; grants are made when a request is
// submitted and revoked when it completes, and revoking a page the back-end
// still maps is an error (Linux's gnttab_end_foreign_access fails then). In
// the double a page has a single grant (gref = frame), so header, status and
// data of a request never share a page. Without a grant table (foreign mode)
// the same layout is used and the unmap-before-completion rule still checked.

#include "base/error.hpp"
#include "frontend/blk_driver.hpp"
#include "frontend/guest_memory.hpp"
#include "frontend/split_queue.hpp"
#include "frontend/xen_double_files.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace xenvhost::frontend {

struct XenBlkQueueOptions {
    unsigned depth = 16;
    uint32_t max_data = 128 * 1024;  // per-slot data buffer
    uint32_t segment_size = 0;       // split data into descriptors of this size (0: one)
    std::optional<size_t> region;    // where slot buffers live
    // Each completed request's pages must be unmapped already (per-request
    // mapping); off for foreign regions the worker maps whole.
    bool expect_unmapped = true;
};

class XenBlkQueue final : public BlkDriver {
public:
    // grants = false: foreign mode (nothing to grant).
    static Result<std::unique_ptr<XenBlkQueue>> create(GuestMemory& mem, SplitQueue& queue, XenDoubleFiles& files,
                                                       bool grants, const XenBlkQueueOptions& opts);

    void set_segment_size(uint32_t bytes) { opts_.segment_size = bytes; }

    // Supports IN, OUT, FLUSH and GET_ID. Grants the request's pages.
    Result<unsigned> submit(const BlkCommand& cmd) override;

    // Where an in-flight (or last) request of a slot lives, to revoke one of
    // its grants or make one of its frames go missing mid-run.
    struct SlotPages {
        uint64_t header_gpa = 0;
        uint64_t status_gpa = 0;
        uint64_t data_gpa = 0;
        uint32_t data_len = 0;
    };
    SlotPages slot_pages(unsigned slot) const;

private:
    XenBlkQueue(GuestMemory& mem, SplitQueue& queue, XenDoubleFiles& files, bool grants,
                const XenBlkQueueOptions& opts)
        : BlkDriver(mem, queue, opts.depth), files_(files), grants_(grants), opts_(opts) {}
    // Checks the back-end unmapped the request's pages and revokes its grants.
    Result<void> completed(const BlkCompletion& c) override;

    XenDoubleFiles& files_;
    bool grants_;
    XenBlkQueueOptions opts_;
    std::vector<SlotPages> slots_;
};

}  // namespace xenvhost::frontend
