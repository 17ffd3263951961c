#pragma once
// Answers the requests in an ioreq page: one slot per vCPU, each holding at
// most one request at a time that Xen has marked ready. The guest's vCPU is
// blocked until the answer is published, so each one is answered at once.

#include "device_model/io_router.hpp"

#include <cstdint>

struct ioreq;  // <xen/hvm/ioreq.h>

namespace xenvhost::device_model {

struct IoreqCounters {
    uint64_t mmio = 0, pci_config = 0, invalidate = 0, other = 0, refused = 0;
};

class IoreqHandler {
public:
    explicit IoreqHandler(IoRouter& router) : router_(router) {}
    // Handles the request in `slot` if one is ready; true when an answer was
    // published (the caller then notifies the vCPU's event channel).
    bool handle(ioreq& slot);
    const IoreqCounters& counters() const { return counters_; }

private:
    IoRouter& router_;
    IoreqCounters counters_;
};

}  // namespace xenvhost::device_model
