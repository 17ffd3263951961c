#pragma once
// Answers the requests in an ioreq page: one slot per vCPU, each holding at
// most one request at a time that Xen has marked ready. The guest's vCPU is
// blocked until the answer is published, so each one is answered at once.

#include "device_model/io_router.hpp"

#include <cstdint>
#include <functional>

struct ioreq;  // <xen/hvm/ioreq.h>

namespace xenvhost::device_model {

struct IoreqCounters {
    uint64_t mmio = 0, pci_config = 0, invalidate = 0, other = 0, refused = 0;
};

class IoreqHandler {
public:
    // `on_invalidate` runs before an INVALIDATE is answered: the guest's
    // vCPU waits until every mapping of memory it gave back is gone.
    IoreqHandler(IoRouter& router, std::function<void()> on_invalidate)
        : router_(router), on_invalidate_(std::move(on_invalidate)) {}
    // Handles the request in `slot` if one is ready; true when an answer was
    // published (the caller then notifies the vCPU's event channel).
    bool handle(ioreq& slot);
    const IoreqCounters& counters() const { return counters_; }

private:
    IoRouter& router_;
    std::function<void()> on_invalidate_;
    IoreqCounters counters_;
};

}  // namespace xenvhost::device_model
