#pragma once
// The data-path checks over real grants: a write, a flush and a read back
// compared byte for byte with the front-end's buffers and with the image
// file; a buffer spanning five pages (consecutive refs, starting mid-page);
// requests whose data grant was revoked or never made, which must complete
// with IOERR while the next request succeeds.

#include "base/error.hpp"
#include "grant_pool.hpp"
#include "grant_session.hpp"
#include "worker_counters.hpp"

#include <cstdint>
#include <string>

namespace xenvhost::grantfe {

// Sectors the checks write; the timed loops only read.
inline constexpr uint64_t kWriteSector = 2048;      // 1 MiB
inline constexpr uint64_t kMultiPageSector = 4096;  // 2 MiB
inline constexpr uint64_t kRevokeSector = 6144;     // 3 MiB
inline constexpr uint64_t kChecksEnd = 8192;        // the checks stay below 4 MiB

struct CheckEnv {
    GrantSession& session;
    GrantPool& pool;
    const WorkerCounters& worker;
    std::string image;
    uint64_t seed = 0x6772616e74;  // "grant"
    bool foreign = false;          // pages are machine frames, descriptors carry frame<<12
};

// Each returns a one-line description of what passed.
Result<std::string> check_write_flush_read(CheckEnv& env);
Result<std::string> check_multi_page_buffer(CheckEnv& env);

// `revoked` is a page granted before the table was sent and not yet
// unshared; the check unshares it first. `never_granted` is a ref inside the
// table that nobody granted to the worker's domain.
Result<std::string> check_bad_grants(CheckEnv& env, SharedPages& revoked, uint32_t revoked_ref,
                                     uint32_t never_granted);

// A guest's pool: a ref past every ref the guest granted us.
Result<std::string> check_never_granted(CheckEnv& env, uint32_t never_granted);

}  // namespace xenvhost::grantfe
