#include "transport/interrupt_state.hpp"

namespace xenvhost::transport {

// A device that goes away must not leave its line asserted.
InterruptState::~InterruptState() {
    if (level_) platform_.set_irq_level(false);
}

void InterruptState::raise(uint8_t bits) {
    status_ |= bits & (kIsrQueue | kIsrConfig);
    update();
}

void InterruptState::acknowledge(uint8_t bits) {
    status_ &= static_cast<uint8_t>(~bits);
    update();
}

uint8_t InterruptState::take() {
    const uint8_t was = status_;
    status_ = 0;
    update();
    return was;
}

void InterruptState::set_masked(bool masked) {
    masked_ = masked;
    update();
}

void InterruptState::update() {
    const bool want = status_ != 0 && !masked_;
    if (want == level_) return;
    level_ = want;
    platform_.set_irq_level(want);
}

}  // namespace xenvhost::transport
