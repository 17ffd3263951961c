#include "sandbox/network_view.hpp"

#include <sched.h>

namespace xenvhost::sandbox {

Result<> enter_empty_network() {
    if (::unshare(CLONE_NEWNET) < 0) return fail_errno("unshare(CLONE_NEWNET)");
    return {};
}

}  // namespace xenvhost::sandbox
