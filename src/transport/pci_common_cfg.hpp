#pragma once
// virtio-pci's common configuration structure (virtio 1.2 4.1.4.3, struct
// virtio_pci_common_cfg) over the shared VirtioStatus. Each field takes its
// natural width only; an 8-byte access is two 4-byte ones (a 64-bit ring
// address at once). No MSI-X: both vector fields read NO_VECTOR.

#include "transport/guest_log.hpp"
#include "transport/virtio_device.hpp"
#include "transport/virtio_status.hpp"

#include <cstdint>

namespace xenvhost::transport::pci {

inline constexpr uint16_t kNoVector = 0xffff;

class PciCommonConfig {
public:
    PciCommonConfig(VirtioStatus& status, const VirtioDevice& device, GuestLog& log)
        : status_(status), device_(device), log_(log) {}

    uint64_t read(uint64_t offset, unsigned size);
    void write(uint64_t offset, unsigned size, uint64_t value);

private:
    uint32_t read_field(uint64_t offset) const;
    uint32_t read_queue_field(uint64_t offset) const;
    void write_field(uint64_t offset, uint32_t value);
    void write_queue_address(uint64_t offset, uint32_t value);
    bool natural(uint64_t offset, unsigned size, bool write) const;

    VirtioStatus& status_;
    const VirtioDevice& device_;
    GuestLog& log_;
};

}  // namespace xenvhost::transport::pci
