#include "daemon/device_state.hpp"

namespace xenvhost::daemon {

Action decide(Phase phase, const Observed& seen) {
    const bool serving = phase == Phase::starting || phase == Phase::ready;
    if (!seen.exists) return serving || phase == Phase::closing ? Action::stop_forget : Action::forget;

    // libxl's teardown writes online=0 and state=5 together; either one means stop.
    const bool closing = seen.state == kStateClosing || (!seen.online && seen.state != kStateInitialising);
    if (closing || seen.state == kStateClosed) {
        if (serving) return Action::stop;
        if (phase == Phase::closing || phase == Phase::closed) return Action::none;
        // Never served: answer Closing with Closed so libxl need not time out.
        if (seen.state == kStateClosing) return Action::close;
        return Action::none;
    }
    if (!seen.online) return Action::none;

    if (seen.state == kStateInitialising) {
        switch (phase) {
            case Phase::idle:
            case Phase::closed: return Action::start;
            case Phase::failed: return Action::retry;
            case Phase::ready: return Action::republish;
            case Phase::starting:
            case Phase::closing: return Action::none;
        }
    }
    if (seen.state == kStateInitWait && phase == Phase::idle) return Action::adopt;
    return Action::none;
}

std::string_view phase_name(Phase phase) {
    switch (phase) {
        case Phase::idle: return "idle";
        case Phase::starting: return "starting";
        case Phase::ready: return "ready";
        case Phase::failed: return "failed";
        case Phase::closing: return "closing";
        case Phase::closed: return "closed";
    }
    return "?";
}

std::string_view action_name(Action action) {
    switch (action) {
        case Action::none: return "none";
        case Action::start: return "start";
        case Action::adopt: return "adopt";
        case Action::retry: return "retry";
        case Action::republish: return "republish";
        case Action::stop: return "stop";
        case Action::close: return "close";
        case Action::stop_forget: return "stop-forget";
        case Action::forget: return "forget";
    }
    return "?";
}

}  // namespace xenvhost::daemon
