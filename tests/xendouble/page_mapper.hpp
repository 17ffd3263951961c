#pragma once
// Real mappings of guest pages: a reservation of count x 4 KiB, then each run
// of consecutive pages mapped MAP_FIXED|MAP_SHARED from the memory file at
// its offset with the requested protection, so the worker's writes land in
// the front-end's view of guest memory. A table of live mappings per handle
// checks unmaps the way gntdev does (the count must match the mapping) and
// keeps the per-page mapping counts that the front-end reads.

#include "xendouble/guest_state.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace xenvhost::xendouble {

class PageMapper {
public:
    explicit PageMapper(std::shared_ptr<GuestState> state) : state_(std::move(state)) {}
    ~PageMapper();
    PageMapper(const PageMapper&) = delete;
    PageMapper& operator=(const PageMapper&) = delete;

    const GuestState& state() const { return *state_; }

    // Maps `pages` (page numbers in the memory file) at consecutive
    // addresses. Entries with skip[i] set stay reserved but inaccessible
    // (a foreign frame that failed). nullptr with errno on failure.
    void* map(const std::vector<uint64_t>& pages, const std::vector<bool>& skip, int prot);
    // Unmaps a mapping made by map(); `count` must be its page count.
    // 0, or -1 with errno EINVAL for an unknown address or a wrong count.
    int unmap(void* addr, uint64_t count);

private:
    struct Live {
        std::vector<uint64_t> pages;  // the mapped ones only (for the map counts)
        uint64_t count = 0;           // pages reserved
    };
    std::shared_ptr<GuestState> state_;
    std::mutex mutex_;
    std::map<uintptr_t, Live> live_;
};

}  // namespace xenvhost::xendouble
