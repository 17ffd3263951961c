#pragma once
// The guest side of the Xen mapping double (tests/xendouble): creates the
// state files in a directory and plays the hypervisor-facing part of a Xen
// guest on them. Grants are made and revoked page by page in `grants` (the
// page of grant ref N is page N of `memory`), frames are made missing in
// `frames`, and the double's counters and per-page mapping counts are read
// back. A worker started with LD_PRELOAD=libxendouble.so and environment()
// maps this guest's memory through the same files.

#include "base/error.hpp"
#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "xendouble/state_layout.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace xenvhost::frontend {

using xendouble::GrantState;

struct XenDoubleCounters {
    std::array<uint64_t, xendouble::kCounterCount> v{};

    uint64_t operator[](xendouble::Counter c) const { return v[c]; }
    uint64_t map_calls() const { return v[xendouble::kGrantMapCalls] + v[xendouble::kForeignMapCalls]; }
    uint64_t unmap_calls() const { return v[xendouble::kGrantUnmapCalls] + v[xendouble::kForeignUnmapCalls]; }
    uint64_t pages_mapped() const {
        return v[xendouble::kGrantPagesMapped] + v[xendouble::kForeignPagesMapped];
    }
    XenDoubleCounters operator-(const XenDoubleCounters& o) const;
    std::string describe() const;
};

class XenDoubleFiles {
public:
    // Creates memory (zeroed), grants (nothing granted), frames (all
    // present), counters and mapcount for `pages` pages in `dir`.
    static Result<XenDoubleFiles> create(const std::string& dir, uint64_t pages, uint32_t domid);

    const std::string& dir() const { return dir_; }
    uint64_t pages() const { return pages_; }
    uint32_t domid() const { return domid_; }
    int memory_fd() const { return memory_.get(); }
    // The variables a worker needs next to LD_PRELOAD.
    std::vector<std::pair<std::string, std::string>> environment() const;

    // Maps [offset, offset+len) of guest memory (page aligned) into this process.
    Result<Mapping> map_memory(uint64_t offset, uint64_t len) const;

    GrantState grant(uint64_t page) const;
    void set_grant(uint64_t page, GrantState state);
    // Every page [gpa, gpa+len) touches.
    void set_grants(uint64_t gpa, uint64_t len, GrantState state);
    void set_frame_missing(uint64_t page, bool missing);
    // Live back-end mappings of a page.
    uint32_t mapcount(uint64_t page) const;
    // The first page of [gpa, gpa+len) that the back-end still maps, if any.
    std::optional<uint64_t> first_mapped(uint64_t gpa, uint64_t len) const;
    XenDoubleCounters counters() const;

    // Fds to send with Xen regions: the character devices that stand in for
    // gntdev (/dev/null) and privcmd (/dev/zero) in a worker running the double.
    int gntdev_fd() const { return gntdev_.get(); }
    int privcmd_fd() const { return privcmd_.get(); }

private:
    std::string dir_;
    uint64_t pages_ = 0;
    uint32_t domid_ = 0;
    UniqueFd memory_, gntdev_, privcmd_;
    Mapping grants_, frames_, counters_, mapcount_;
};

}  // namespace xenvhost::frontend
