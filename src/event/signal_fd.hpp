#pragma once
// Signals delivered through a signalfd that an event loop watches, so a
// handler runs on the loop thread like any other callback.

#include "base/error.hpp"
#include "base/unique_fd.hpp"

#include <initializer_list>

namespace xenvhost::event {

// Blocks `signals` in this thread and returns a non-blocking signalfd for
// them. Call it before any thread starts (libraries may start their own):
// threads inherit the mask, so the signals reach only the signalfd.
Result<UniqueFd> block_into_signalfd(std::initializer_list<int> signals);

}  // namespace xenvhost::event
