// The per-device state machine, transition by transition.

#include "daemon/device_state.hpp"

#include <gtest/gtest.h>

namespace xenvhost::daemon {
namespace {

Observed seen(std::optional<unsigned> state, bool online) { return Observed{true, state, online}; }
const Observed kGone{false, std::nullopt, false};

TEST(DaemonState, NewDeviceIsServedOnlyAtInitialisingAndOnline) {
    EXPECT_EQ(decide(Phase::idle, seen(1, true)), Action::start);
    EXPECT_EQ(decide(Phase::idle, seen(1, false)), Action::none);
    EXPECT_EQ(decide(Phase::idle, seen(std::nullopt, true)), Action::none);
    EXPECT_EQ(decide(Phase::idle, seen(3, true)), Action::none);
    EXPECT_EQ(decide(Phase::idle, seen(4, true)), Action::none);
}

TEST(DaemonState, DeviceAlreadyAtInitWaitIsAdopted) {
    EXPECT_EQ(decide(Phase::idle, seen(2, true)), Action::adopt);
    EXPECT_EQ(decide(Phase::ready, seen(2, true)), Action::none);
    EXPECT_EQ(decide(Phase::starting, seen(2, true)), Action::none);
    EXPECT_EQ(decide(Phase::failed, seen(2, true)), Action::none);
}

TEST(DaemonState, StartingAndReadyWaitQuietly) {
    EXPECT_EQ(decide(Phase::starting, seen(1, true)), Action::none);
    EXPECT_EQ(decide(Phase::closing, seen(1, true)), Action::none);
}

TEST(DaemonState, RewrittenDirectoryIsRepublished) {
    EXPECT_EQ(decide(Phase::ready, seen(1, true)), Action::republish);
}

TEST(DaemonState, FailedDeviceIsRetriedOnChange) {
    EXPECT_EQ(decide(Phase::failed, seen(1, true)), Action::retry);
}

TEST(DaemonState, TeardownStopsServedDevices) {
    EXPECT_EQ(decide(Phase::ready, seen(5, false)), Action::stop);
    EXPECT_EQ(decide(Phase::ready, seen(5, true)), Action::stop);
    EXPECT_EQ(decide(Phase::ready, seen(2, false)), Action::stop);
    EXPECT_EQ(decide(Phase::starting, seen(5, false)), Action::stop);
    EXPECT_EQ(decide(Phase::ready, seen(6, false)), Action::stop);
    EXPECT_EQ(decide(Phase::closing, seen(5, false)), Action::none);
    EXPECT_EQ(decide(Phase::closed, seen(6, false)), Action::none);
    EXPECT_EQ(decide(Phase::closed, seen(5, false)), Action::none);
}

TEST(DaemonState, ClosingIsAnsweredEvenForDevicesNeverServed) {
    EXPECT_EQ(decide(Phase::idle, seen(5, false)), Action::close);
    EXPECT_EQ(decide(Phase::failed, seen(5, false)), Action::close);
    EXPECT_EQ(decide(Phase::failed, seen(6, false)), Action::none);
    EXPECT_EQ(decide(Phase::idle, seen(1, false)), Action::none);
}

TEST(DaemonState, ClosedDeviceCanComeBack) {
    EXPECT_EQ(decide(Phase::closed, seen(1, true)), Action::start);
}

TEST(DaemonState, RemovedDirectory) {
    EXPECT_EQ(decide(Phase::ready, kGone), Action::stop_forget);
    EXPECT_EQ(decide(Phase::starting, kGone), Action::stop_forget);
    EXPECT_EQ(decide(Phase::closing, kGone), Action::stop_forget);
    EXPECT_EQ(decide(Phase::closed, kGone), Action::forget);
    EXPECT_EQ(decide(Phase::failed, kGone), Action::forget);
    EXPECT_EQ(decide(Phase::idle, kGone), Action::forget);
}

TEST(DaemonState, NamesForLogLines) {
    EXPECT_EQ(phase_name(Phase::ready), "ready");
    EXPECT_EQ(action_name(Action::stop_forget), "stop-forget");
}

}  // namespace
}  // namespace xenvhost::daemon
