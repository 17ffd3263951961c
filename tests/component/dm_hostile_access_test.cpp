// Hostile accesses through the real xenvhost-dm: config reads and writes
// past the end of the device config, register accesses of the wrong width
// or alignment on both transports, and a second device's BAR placed over
// the first's. Each is refused (all ones read, write dropped) and the
// devices serve afterwards.
#include "dm_fixture.hpp"

namespace xenvhost::component {
namespace {

using namespace vstatus;

class DmHostileAccess : public DmTest {
protected:
    std::vector<DmDeviceSpec> devices() const override {
        DmDeviceSpec pci2;
        pci2.name = "disk2";
        pci2.slot = 17;
        DmDeviceSpec mmio;
        mmio.name = "disk3";
        mmio.mmio = true;
        mmio.base = 0xfe000000;
        mmio.irq = 5;
        return {DmDeviceSpec{}, pci2, mmio};
    }
    void serves(GuestTransport& t, size_t dev, uint64_t seed) {
        ASSERT_TRUE(dm_->alive()) << "xenvhost-dm died";
        auto g = driver(t);
        ASSERT_OK(g->bring_up());
        EXPECT_EQ(g->capacity(), kImageSize / 512);
        ASSERT_NO_FATAL_FAILURE(verified_batch(*g, dev, {{seed % 512, 4096}, {4096, 65536}}, seed));
    }
};

TEST_F(DmHostileAccess, DeviceConfigPastTheEnd) {
    auto p = pci_device(0, kBarAddress);
    const uint32_t len = p->caps().device_length;
    ASSERT_GE(len, 8u);
    // The capability names the region; the config is what the device has.
    for (uint32_t at : {0x100u, 0xff8u, 0xffcu}) {
        EXPECT_EQ(p->read_config(at, 4), 0xffffffffu) << "at " << at;
        p->write_config(at, 4, 0x12345678);
    }
    EXPECT_EQ(p->read_config(0xfff, 2), 0xffffu) << "crossing into the notify region";
    EXPECT_EQ(p->read_config(0, 8), kImageSize / 512) << "capacity, one 8-byte read";
    auto m = mmio_device(2);
    EXPECT_EQ(m->read_config(0xfc, 4), 0xffffffffu);
    m->write_config(0xfc, 4, 0x12345678);
    EXPECT_EQ(m->read_config(0, 4), kImageSize / 512);
    ASSERT_NO_FATAL_FAILURE(serves(*p, 0, 0x2000));
    ASSERT_NO_FATAL_FAILURE(serves(*m, 2, 0x2001));
}

TEST_F(DmHostileAccess, OddWidthsAndAlignments) {
    auto p = pci_device(0, kBarAddress);
    auto g = driver(*p);
    ASSERT_OK(g->bring_up());
    const uint8_t running = kAcknowledge | kDriver | kFeaturesOk | kDriverOk;
    EXPECT_EQ(p->common_read(0x14, 4), 0xffffffffu) << "device_status is one byte";
    p->common_write(0x14, 2, 0);  // a reset of the wrong width: dropped
    EXPECT_EQ(p->status(), running);
    EXPECT_EQ(p->common_read(0x04, 2), 0xffffu) << "device_feature is 4 bytes";
    EXPECT_EQ(p->common_read(0x02, 4), 0xffffffffu) << "unaligned";
    EXPECT_NE(p->common_read(0x20, 8), ~uint64_t{0}) << "a 64-bit ring address at once";
    EXPECT_EQ(mmio_read(*guest_, kBarAddress + p->caps().isr, 8, 0), ~uint64_t{0});
    // Config cycles of any width at any offset: bytes as the dwords hold them.
    const uint64_t d0 = p->config_read(0x00, 4), d1 = p->config_read(0x04, 4);
    EXPECT_EQ(p->config_read(0x03, 2), ((d0 >> 24) | (d1 << 8)) & 0xffff);
    EXPECT_EQ(p->config_read(0xffe, 2), 0u) << "extended config space reads zeros";
    auto m = mmio_device(2);
    EXPECT_EQ(m->status(), 0u);
    EXPECT_EQ(mmio_read(*guest_, 0xfe000000, 2, 0), 0xffffu) << "virtio-mmio registers are 32-bit";
    EXPECT_EQ(mmio_read(*guest_, 0xfe000000, 8, 0), ~uint64_t{0});
    EXPECT_EQ(mmio_read(*guest_, 0xfe000002, 2, 0), 0xffffu);
    mmio_write(*guest_, 0xfe000070, 1, kAcknowledge, 0);
    EXPECT_EQ(m->status(), 0u) << "a 1-byte status write is dropped";
    EXPECT_EQ(p->status(), running);
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{5, 4096}}, 0x2100));
    ASSERT_NO_FATAL_FAILURE(serves(*m, 2, 0x2101));
}

TEST_F(DmHostileAccess, BarPlacedOverAnotherDevice) {
    auto p0 = pci_device(0, kBarAddress);
    // BARs are aligned to their size: two of the same size overlap by coinciding.
    auto p1 = pci_device(1, kBarAddress);
    EXPECT_EQ(p1->config_read(0x10, 4), (kBarAddress & 0xffffffff) | 0x4) << "the BAR holds what was written";
    // Those addresses still reach the first device: its capacity.
    EXPECT_EQ(mmio_read(*guest_, kBarAddress + 0x2000, 8, 0), kImageSize / 512);
    EXPECT_EQ(guest_->server().mmio.size(), 2u) << guest_->server().describe();
    p1->place_bar(0xfe000000);  // onto the virtio-mmio window
    EXPECT_FALSE(claimed(0xfe000000, 0xfe007fff)) << guest_->server().describe();
    EXPECT_EQ(mmio_read(*guest_, 0xfe000000, 4, 0), 0x74726976u) << "the window is still virtio-mmio's";
    p1->place_bar(kBarAddress + 0x8000);
    EXPECT_TRUE(claimed(kBarAddress, kBarAddress + 0xffff)) << guest_->server().describe();
    ASSERT_NO_FATAL_FAILURE(serves(*p0, 0, 0x2200));
    ASSERT_NO_FATAL_FAILURE(serves(*p1, 1, 0x2201));
}

}  // namespace
}  // namespace xenvhost::component
