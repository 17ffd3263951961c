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
    idle,      // seen, not (yet) asked to be served
    starting,  // waiting for the worker to listen on the device's socket
    ready,     // served; state 2 written (or adopted)
    failed,    // cannot be served; error key written
    closing,   // being removed from its worker
    closed,    // removed; state 6 written
};

struct Observed {
    bool exists = false;            // the device directory is there
    std::optional<unsigned> state;  // backend state, nullopt if missing or not a number
    bool online = false;
};

enum class Action {
    none,
    start,         // serve it: validate, add to the guest's worker, then state 2
    adopt,         // already at state 2 (an earlier daemon served it): serve without touching state
    retry,         // failed before: serve again if its keys changed since
    republish,     // served, but the toolstack rewrote the directory: write socket, status and state 2 again
    stop,          // remove from the worker, then write state 6
    close,         // nothing to remove: write state 6 now
    stop_forget,   // the directory is gone: remove from the worker and forget it
    forget,        // the directory is gone: forget it
};

Action decide(Phase phase, const Observed& seen);

std::string_view phase_name(Phase phase);
std::string_view action_name(Action action);

}  // namespace xenvhost::daemon
