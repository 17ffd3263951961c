#pragma once
// The interrupt status of a virtio device (PCI's ISR, virtio-mmio's
// InterruptStatus: bit 0 a used buffer, bit 1 a config change) and the
// level-triggered line that follows it. The line is asserted while a bit is
// set and the transport does not mask it (PCI's INTx disable); the platform
// hears only changes of level.

#include "transport/platform.hpp"

#include <cstdint>

namespace xenvhost::transport {

inline constexpr uint8_t kIsrQueue = 0x1;
inline constexpr uint8_t kIsrConfig = 0x2;

class InterruptState {
public:
    explicit InterruptState(Platform& platform) : platform_(platform) {}
    ~InterruptState();
    InterruptState(const InterruptState&) = delete;
    InterruptState& operator=(const InterruptState&) = delete;

    uint8_t status() const { return status_; }
    void raise(uint8_t bits);
    void acknowledge(uint8_t bits);  // virtio-mmio's InterruptACK
    uint8_t take();                  // PCI's ISR read: read-to-clear
    void clear() { acknowledge(0xff); }
    void set_masked(bool masked);
    bool level() const { return level_; }

private:
    void update();

    Platform& platform_;
    uint8_t status_ = 0;
    bool masked_ = false;
    bool level_ = false;
};

}  // namespace xenvhost::transport
