#pragma once
// The dom0 device-interface checks run against the real hypervisor. Each
// returns a one-line summary of what it measured, or why it failed.

#include <cstdint>
#include <string>

#include "base/error.hpp"

namespace xenvhost::xencheck {

// gntalloc shares `pages` pages to domid 0; gntdev maps them back, one ref
// alone and then all refs in one batched call; bytes must round-trip both ways.
Result<std::string> check_grant_self_map(uint32_t pages, unsigned rounds);

// privcmd maps the guest's shared_info frame (through a handle restricted to
// the guest) with per-page errors checked, and a frame the guest does not own
// must be refused in the same batch.
Result<std::string> check_foreign_map(uint32_t domid, unsigned rounds);

// Two xenevtchn handles bound to each other in dom0: notifications must
// arrive on the peer's fd, in both directions.
Result<std::string> check_evtchn_loopback(unsigned rounds);

}  // namespace xenvhost::xencheck
