#pragma once
// virtio-pci's common configuration structure (virtio 1.2 4.1.4.3, struct
// virtio_pci_common_cfg) over the shared VirtioStatus. Each field takes its
// natural width only; an 8-byte access is two 4-byte ones (a 64-bit ring
// address at once). msix_config and queue_msix_vector keep the MSI-X table
// entry the driver maps each event to; one beyond the table reads back
// NO_VECTOR (virtio 1.2 4.1.4.3: the device could not assign it), and a
// device reset unmaps them all.

#include "transport/guest_log.hpp"
#include "transport/msix_table.hpp"
#include "transport/virtio_device.hpp"
#include "transport/virtio_status.hpp"

#include <cstdint>
#include <vector>

namespace xenvhost::transport::pci {

inline constexpr uint16_t kNoVector = 0xffff;

class PciCommonConfig {
public:
    PciCommonConfig(VirtioStatus& status, const VirtioDevice& device, MsixTable& msix, GuestLog& log);

    uint64_t read(uint64_t offset, unsigned size);
    void write(uint64_t offset, unsigned size, uint64_t value);

    // The vectors events go to (kNoVector: none).
    uint16_t config_vector() const { return config_vector_; }
    uint16_t queue_vector(uint16_t index) const;

private:
    uint32_t read_field(uint64_t offset) const;
    uint32_t read_queue_field(uint64_t offset) const;
    void write_field(uint64_t offset, uint32_t value);
    void write_queue_address(uint64_t offset, uint32_t value);
    bool natural(uint64_t offset, unsigned size, bool write) const;
    uint16_t checked_vector(uint32_t value, const char* what);
    void reset_vectors();

    VirtioStatus& status_;
    const VirtioDevice& device_;
    MsixTable& msix_;
    GuestLog& log_;
    uint16_t config_vector_ = kNoVector;
    std::vector<uint16_t> queue_vectors_;  // by queue index
};

}  // namespace xenvhost::transport::pci
