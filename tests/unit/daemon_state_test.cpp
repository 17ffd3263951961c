// The per-device state machine, transition by transition.

#include "daemon/device_state.hpp"

#include <gtest/gtest.h>

namespace xenvhost::daemon {
namespace {

Observed seen(std::optional<unsigned> state, bool online) { return Observed{true, state, online}; }
const Observed kGone{false, std::nullopt, false};

TEST(DaemonState, NewDeviceIsServedOnlyAtInitialisingAndOnline) {
    EXPECT_EQ(decide(Phase::kIdle, seen(1, true)), Action::kStart);
    EXPECT_EQ(decide(Phase::kIdle, seen(1, false)), Action::kNone);
    EXPECT_EQ(decide(Phase::kIdle, seen(std::nullopt, true)), Action::kNone);
    EXPECT_EQ(decide(Phase::kIdle, seen(3, true)), Action::kNone);
    EXPECT_EQ(decide(Phase::kIdle, seen(4, true)), Action::kNone);
}

TEST(DaemonState, DeviceAlreadyAtInitWaitIsAdopted) {
    EXPECT_EQ(decide(Phase::kIdle, seen(2, true)), Action::kAdopt);
    EXPECT_EQ(decide(Phase::kReady, seen(2, true)), Action::kNone);
    EXPECT_EQ(decide(Phase::kStarting, seen(2, true)), Action::kNone);
    EXPECT_EQ(decide(Phase::kFailed, seen(2, true)), Action::kNone);
}

TEST(DaemonState, StartingAndReadyWaitQuietly) {
    EXPECT_EQ(decide(Phase::kStarting, seen(1, true)), Action::kNone);
    EXPECT_EQ(decide(Phase::kClosing, seen(1, true)), Action::kNone);
}

TEST(DaemonState, RewrittenDirectoryIsRepublished) {
    EXPECT_EQ(decide(Phase::kReady, seen(1, true)), Action::kRepublish);
}

TEST(DaemonState, FailedDeviceIsRetriedOnChange) {
    EXPECT_EQ(decide(Phase::kFailed, seen(1, true)), Action::kRetry);
}

TEST(DaemonState, TeardownStopsServedDevices) {
    EXPECT_EQ(decide(Phase::kReady, seen(5, false)), Action::kStop);
    EXPECT_EQ(decide(Phase::kReady, seen(5, true)), Action::kStop);
    EXPECT_EQ(decide(Phase::kReady, seen(2, false)), Action::kStop);
    EXPECT_EQ(decide(Phase::kStarting, seen(5, false)), Action::kStop);
    EXPECT_EQ(decide(Phase::kReady, seen(6, false)), Action::kStop);
    EXPECT_EQ(decide(Phase::kClosing, seen(5, false)), Action::kNone);
    EXPECT_EQ(decide(Phase::kClosed, seen(6, false)), Action::kNone);
    EXPECT_EQ(decide(Phase::kClosed, seen(5, false)), Action::kNone);
}

TEST(DaemonState, ClosingIsAnsweredEvenForDevicesNeverServed) {
    EXPECT_EQ(decide(Phase::kIdle, seen(5, false)), Action::kClose);
    EXPECT_EQ(decide(Phase::kFailed, seen(5, false)), Action::kClose);
    EXPECT_EQ(decide(Phase::kFailed, seen(6, false)), Action::kNone);
    EXPECT_EQ(decide(Phase::kIdle, seen(1, false)), Action::kNone);
}

TEST(DaemonState, ClosedDeviceCanComeBack) {
    EXPECT_EQ(decide(Phase::kClosed, seen(1, true)), Action::kStart);
}

TEST(DaemonState, RemovedDirectory) {
    EXPECT_EQ(decide(Phase::kReady, kGone), Action::kStopForget);
    EXPECT_EQ(decide(Phase::kStarting, kGone), Action::kStopForget);
    EXPECT_EQ(decide(Phase::kClosing, kGone), Action::kStopForget);
    EXPECT_EQ(decide(Phase::kClosed, kGone), Action::kForget);
    EXPECT_EQ(decide(Phase::kFailed, kGone), Action::kForget);
    EXPECT_EQ(decide(Phase::kIdle, kGone), Action::kForget);
}

TEST(DaemonState, NamesForLogLines) {
    EXPECT_EQ(phase_name(Phase::kReady), "ready");
    EXPECT_EQ(action_name(Action::kStopForget), "stop-forget");
}

}  // namespace
}  // namespace xenvhost::daemon
