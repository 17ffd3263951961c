#include "transport/guest_log.hpp"

namespace xenvhost::transport {

void GuestLog::emit(const std::string& message) {
    if (spent_ < kBudget) {
        ++spent_;
        log::warn("{}: {}{}", who_, message, spent_ == kBudget ? " (further guest errors at debug level)" : "");
        return;
    }
    log::debug("{}: {}", who_, message);
}

}  // namespace xenvhost::transport
