#pragma once
// Component tests of the real xenvhost-dm: one guest domain in the Xen
// double (domain 7, two vCPUs, 32 MiB of RAM with the PC hole at
// 0xa0000-0xfffff), a worker per device serving a patterned image on its
// socket (restartable, as xenvhostd restarts a crashed one), and
// xenvhost-dm started under the double with those devices, ready once its
// report arrived and the double shows the server enabled with every vCPU's
// port bound. The test plays the guest's vCPUs (IoreqGuest) and its drivers
// (dm_guest_transport, dm_blk_guest). Every test ends with SIGTERM: exit
// status 0 and nothing of the server left in the double. A failing test
// prints the device model's and the workers' logs.

#include "dm_blk_guest.hpp"
#include "dm_guest_transport.hpp"
#include "dm_process.hpp"
#include "fixture.hpp"
#include "frontend/ioreq_guest.hpp"
#include "frontend/xen_double_files.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace xenvhost::component {

struct DmDeviceSpec {
    std::string name = "disk";
    bool mmio = false;
    uint8_t slot = 16;   // PCI
    uint64_t base = 0;   // virtio-mmio
    unsigned irq = 0;
    std::string regions;  // "grant" or "foreign"; empty: the device model's default
};

class DmTest : public ::testing::Test {
protected:
    static constexpr uint32_t kDomid = 7;
    static constexpr unsigned kVcpus = 2;
    static constexpr uint64_t MiB = 1ull << 20;
    static constexpr uint64_t kGuestBytes = 32 * MiB;
    static constexpr uint64_t kLowEnd = 0xa0000, kHighStart = 0x100000;  // the hole between
    static constexpr uint64_t kImageSize = 16 * MiB;
    static constexpr uint64_t kBarAddress = 0xe0000000;  // above RAM, where firmware puts BARs
    static constexpr size_t kRingRegion = 1;            // the RAM above 1 MiB

    virtual std::vector<DmDeviceSpec> devices() const { return {DmDeviceSpec{}}; }

    void SetUp() override;
    void TearDown() override;

    // (Re)starts device `i`'s worker on the same socket and image.
    void start_worker(size_t i);
    void kill_worker(size_t i);
    // SIGTERM: exit status 0, and the double shows the server destroyed,
    // no MMIO or PCI claims left and every vCPU's port closed.
    void stop_dm_clean();

    // Device `i` on slot devices()[i].slot, capabilities found, its BAR at `bar`.
    std::unique_ptr<PciGuest> pci_device(size_t i, uint64_t bar);
    std::unique_ptr<MmioGuest> mmio_device(size_t i);
    std::unique_ptr<BlkGuest> driver(GuestTransport& t) { return std::make_unique<BlkGuest>(t, mem_, kRingRegion); }

    std::vector<uint8_t> image_bytes(size_t dev, uint64_t offset, size_t len);
    // Writes of `lens` bytes at `sectors`, in flight together, checked in
    // the image file; then their reads, in flight together, checked against
    // what was written.
    void verified_batch(BlkGuest& g, size_t dev, const std::vector<std::pair<uint64_t, uint32_t>>& requests,
                        uint64_t seed);
    // Whether the double shows [first, last] claimed.
    bool claimed(uint64_t first, uint64_t last) const;
    std::string logs() const;

    std::unique_ptr<TempDir> dir_;
    std::unique_ptr<frontend::XenDoubleFiles> files_;
    std::unique_ptr<frontend::IoreqGuest> guest_;
    frontend::GuestMemory mem_;
    std::vector<std::string> sockets_, images_, worker_logs_;
    std::vector<std::unique_ptr<frontend::BackendProcess>> workers_;
    std::unique_ptr<DmProcess> dm_;
    std::string ready_;
};

}  // namespace xenvhost::component
