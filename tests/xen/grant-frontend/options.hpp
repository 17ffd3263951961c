#pragma once
// xen-grant-frontend's command line.

#include "base/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xenvhost::grantfe {

struct Options {
    std::string socket;                  // the worker's vhost-user socket
    std::string image;                   // the image the worker serves (compared with pread)
    std::optional<std::string> control;  // the worker's --control-socket
    uint32_t domid = 0;                  // the domain the pages are granted to (and the worker's --domid)
    uint32_t pages = 256;
    uint16_t queue_size = 128;
    unsigned depth = 1;                  // requests in flight in the timed loops
    double seconds = 5;                  // per timed loop
    double warmup_seconds = 0.5;         // untimed 4 KiB reads before the timed loops
    // The timed read loops: 4k is one 4 KiB descriptor, larger sizes come in
    // 4 KiB descriptors (Linux's grant DMA layer maps per segment).
    std::vector<uint32_t> loop_kib = {4, 64};
    // Run `trace_hook start NAME` before and `trace_hook stop NAME` after a
    // second, traced loop of each size (trace_seconds long), so a script can
    // count the worker's syscalls during it; empty: no traced loops.
    std::string trace_hook;
    double trace_seconds = 1;
    // A real guest's memory instead of dom0's own grants: the guest's grants
    // to dom0 (mapped through gntdev) or its pseudo-physical frames (mapped
    // through privcmd after translation to machine frames: foreign mode).
    std::optional<uint32_t> guest_domid;
    std::vector<uint64_t> guest_grants;  // refs the guest granted to dom0
    std::vector<uint64_t> guest_pfns;    // frames the guest holds for us
    bool help = false;
};

// "A-B,C,..." (ascending or not) into the numbers it names.
Result<std::vector<uint64_t>> parse_ranges(std::string_view text);

Result<Options> parse_options(int argc, char** argv);
const char* usage();

}  // namespace xenvhost::grantfe
