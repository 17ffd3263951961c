#pragma once
// The double's view of the guest state files in $XENDOUBLE_DIR (see
// state_layout.hpp). Each library handle opens its own view, so a process
// may use several directories one after another.

#include "base/mapping.hpp"
#include "base/unique_fd.hpp"
#include "xendouble/state_layout.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace xenvhost::xendouble {

// Writes "xendouble: <message>" to stderr when $XENDOUBLE_DEBUG is set, and
// always when `always` is true (configuration errors).
void note(bool always, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// $XENDOUBLE_DIR and $XENDOUBLE_DOMID, checked. On failure: false, errno
// set, and the reason on stderr.
bool dir_and_domid_from_env(const char* caller, std::string& dir, uint32_t& domid);

// Opens and maps (MAP_SHARED) `name` in `dir`; it must hold at least
// `min_size` bytes. On failure: false, errno set, the reason on stderr.
bool map_file(const std::string& dir, const char* name, size_t min_size, int prot, Mapping& out);

class GuestState {
public:
    // Opens the files named by the environment. On failure: nullptr, errno
    // set, and the reason on stderr (a test that forgot a file must say so).
    static std::shared_ptr<GuestState> open_from_env(const char* caller);

    uint64_t pages() const { return pages_; }
    uint32_t domid() const { return domid_; }
    int memory_fd() const { return memory_.get(); }

    GrantState grant(uint64_t page) const;
    bool frame_missing(uint64_t page) const;
    void count(Counter c, uint64_t n = 1) const;
    void add_mapcount(uint64_t page, int32_t delta) const;

private:
    UniqueFd memory_;
    Mapping grants_, frames_, counters_, mapcount_;
    uint64_t pages_ = 0;
    uint32_t domid_ = 0;
};

}  // namespace xenvhost::xendouble
