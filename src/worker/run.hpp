#pragma once
// The worker program. main() runs it without hooks; a test build runs it
// with hooks that play a compromised worker (tests/component), so the
// production binary carries no such code.

#include "memory/xen_handles.hpp"

#include <cstdint>
#include <functional>
#include <optional>

namespace xenvhost::worker {

struct HookContext {
    std::optional<uint32_t> domid;
    const memory::XenHandles& handles;
};

struct RunHooks {
    std::function<void(const HookContext&)> before_sandbox;  // everything open, still privileged
    std::function<void(const HookContext&)> after_sandbox;   // deprivileged (if asked), before serving
};

int run(int argc, char** argv, const RunHooks& hooks);

}  // namespace xenvhost::worker
