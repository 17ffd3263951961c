#pragma once
// The per-device state machine: from what the daemon last did with a device
// (its phase) and what xenstore now says (backend state/online), the next step.
// Pure, so every transition is unit-tested.

#include <optional>
#include <string_view>

namespace xenvhost::daemon {

// XenbusState values the daemon reads or writes.
inline constexpr unsigned kStateInitialising = 1;
inline constexpr unsigned kStateInitWait = 2;
inline constexpr unsigned kStateClosing = 5;
inline constexpr unsigned kStateClosed = 6;

enum class Phase {
    kIdle,      // seen, not (yet) asked to be served
    kStarting,  // waiting for the worker to listen on the device's socket
    kReady,     // served; state 2 written (or adopted)
    kFailed,    // cannot be served; error key written
    kClosing,   // being removed from its worker
    kClosed,    // removed; state 6 written
};

struct Observed {
    bool exists = false;            // the device directory is there
    std::optional<unsigned> state;  // backend state, nullopt if missing or not a number
    bool online = false;
};

enum class Action {
    kNone,
    kStart,         // serve it: validate, add to the guest's worker, then state 2
    kAdopt,         // already at state 2 (an earlier daemon served it): serve without touching state
    kRetry,         // failed before: serve again if its keys changed since
    kRepublish,     // served, but the toolstack rewrote the directory: write socket, status and state 2 again
    kStop,          // remove from the worker, then write state 6
    kClose,         // nothing to remove: write state 6 now
    kStopForget,   // the directory is gone: remove from the worker and forget it
    kForget,        // the directory is gone: forget it
};

Action decide(Phase phase, const Observed& seen);

std::string_view phase_name(Phase phase);
std::string_view action_name(Action action);

}  // namespace xenvhost::daemon
