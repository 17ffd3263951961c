#pragma once
// The xenforeignmemory handle, shared by the guest-frame maps
// (foreignmemory.cpp) and the resource maps of the ioreq server's page
// (resource.cpp).

#include "xendouble/ioreq_state.hpp"
#include "xendouble/page_mapper.hpp"

#define __XEN_TOOLS__ 1  // the public headers want it
extern "C" {  // the header has no C++ guards
#include <xenforeignmemory.h>
}

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

struct xenforeignmemory_handle {
    std::unique_ptr<xenvhost::xendouble::PageMapper> mapper;
    xenvhost::UniqueFd dev;  // /dev/zero stands in for privcmd
    std::mutex mutex;
    std::optional<uint32_t> restricted;  // privcmd's restriction, once set
    // Opened at the first resource map: a worker has no ioreq state.
    std::shared_ptr<xenvhost::xendouble::IoreqState> ioreq;
};
