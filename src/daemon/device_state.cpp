#include "daemon/device_state.hpp"

namespace xenvhost::daemon {

Action decide(Phase phase, const Observed& seen) {
    const bool serving = phase == Phase::kStarting || phase == Phase::kReady;
    if (!seen.exists) return serving || phase == Phase::kClosing ? Action::kStopForget : Action::kForget;

    // libxl's teardown writes online=0 and state=5 together; either one means stop.
    const bool closing = seen.state == kStateClosing || (!seen.online && seen.state != kStateInitialising);
    if (closing || seen.state == kStateClosed) {
        if (serving) return Action::kStop;
        if (phase == Phase::kClosing || phase == Phase::kClosed) return Action::kNone;
        // Never served: answer Closing with Closed so libxl need not time out.
        if (seen.state == kStateClosing) return Action::kClose;
        return Action::kNone;
    }
    if (!seen.online) return Action::kNone;

    if (seen.state == kStateInitialising) {
        switch (phase) {
            case Phase::kIdle:
            case Phase::kClosed: return Action::kStart;
            case Phase::kFailed: return Action::kRetry;
            case Phase::kReady: return Action::kRepublish;
            case Phase::kStarting:
            case Phase::kClosing: return Action::kNone;
        }
    }
    if (seen.state == kStateInitWait && phase == Phase::kIdle) return Action::kAdopt;
    return Action::kNone;
}

std::string_view phase_name(Phase phase) {
    switch (phase) {
        case Phase::kIdle: return "idle";
        case Phase::kStarting: return "starting";
        case Phase::kReady: return "ready";
        case Phase::kFailed: return "failed";
        case Phase::kClosing: return "closing";
        case Phase::kClosed: return "closed";
    }
    return "?";
}

std::string_view action_name(Action action) {
    switch (action) {
        case Action::kNone: return "none";
        case Action::kStart: return "start";
        case Action::kAdopt: return "adopt";
        case Action::kRetry: return "retry";
        case Action::kRepublish: return "republish";
        case Action::kStop: return "stop";
        case Action::kClose: return "close";
        case Action::kStopForget: return "stop-forget";
        case Action::kForget: return "forget";
    }
    return "?";
}

}  // namespace xenvhost::daemon
