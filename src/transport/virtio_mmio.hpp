#pragma once
// virtio-mmio version 2 (virtio 1.2 4.2): 0x200 bytes at a fixed guest
// address with one interrupt line. Registers are 32-bit (other widths are
// refused); the device config at 0x100 takes any width.

#include "base/error.hpp"
#include "transport/guest_log.hpp"
#include "transport/interrupt_state.hpp"
#include "transport/platform.hpp"
#include "transport/transport.hpp"
#include "transport/virtio_status.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace xenvhost::transport {

inline constexpr uint64_t kMmioWindowSize = 0x200;
inline constexpr uint32_t kMmioMagic = 0x74726976;     // "virt"
inline constexpr uint32_t kMmioVendorId = 0x554d4551;  // "QEMU", as QEMU's devices say

class VirtioMmio final : public Transport {
    struct Key {  // only create() constructs one
        explicit Key() = default;
    };

public:
    // Claims [base, base + 0x1ff] (released when the transport goes away);
    // fails with kPolicy if the platform refuses it or it overlaps RAM.
    static Result<std::unique_ptr<VirtioMmio>> create(Platform& platform, VirtioDevice& device, uint64_t base,
                                                      uint32_t irq);
    VirtioMmio(Key, Platform& platform, VirtioDevice& device, uint64_t base, uint32_t irq);
    ~VirtioMmio() override;
    VirtioMmio(const VirtioMmio&) = delete;
    VirtioMmio& operator=(const VirtioMmio&) = delete;

    uint64_t access(const IoAccess& access) override;
    bool broken() const override { return status_.broken(); }
    std::string describe() const override;

    void queue_interrupt(uint16_t index) override;
    void config_interrupt() override;
    void device_broken() override;

private:
    uint32_t read_register(uint64_t offset);
    void write_register(uint64_t offset, uint32_t value);
    void write_queue_register(uint64_t offset, uint32_t value);
    uint32_t read_queue_register(uint64_t offset) const;

    Platform& platform_;
    VirtioDevice& device_;
    const uint64_t base_;
    const uint32_t irq_;
    GuestLog log_;
    InterruptState interrupts_;
    VirtioStatus status_;
    uint32_t shm_select_ = 0;
};

}  // namespace xenvhost::transport
