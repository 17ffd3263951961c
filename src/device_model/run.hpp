#pragma once
// The device-model program. main() runs it without hooks; a test build runs
// it with hooks that play a compromised device model (tests/xenstore), so
// the production binary carries no such code.

#include "device_model/options.hpp"

#include <functional>

namespace xenvhost::device_model {

struct HookContext {
    const DmOptions& options;
};

struct RunHooks {
    std::function<void(const HookContext&)> before_sandbox;  // devices on the bus, still privileged
    std::function<void(const HookContext&)> after_sandbox;   // deprivileged (if asked), before the ready report
};

int run(int argc, char** argv, const RunHooks& hooks);

}  // namespace xenvhost::device_model
