// virtio-mmio version 2 as Linux's virtio_mmio driver drives it, and the
// status machine's order (shared with virtio-pci) through its registers.

#include "transport/virtio_mmio.hpp"
#include "transport_doubles.hpp"

#include <gtest/gtest.h>

using namespace xenvhost;
using namespace xenvhost::transport;
using namespace xenvhost::transport::test;

namespace {

constexpr uint64_t kBase = 0x2000000 + 0x80000000;  // past the double's RAM

struct MmioDriver {
    RecordingPlatform platform;
    RecordingDevice device;
    std::unique_ptr<VirtioMmio> mmio;

    void make() {
        auto m = VirtioMmio::create(platform, device, kBase, 33);
        ASSERT_TRUE(m) << m.error().message;
        mmio = std::move(*m);
    }
    uint64_t read(uint64_t off, uint8_t size = 4) { return mmio->access({AccessKind::kMmio, kBase + off, size, false, 0}); }
    void write(uint64_t off, uint64_t v, uint8_t size = 4) { mmio->access({AccessKind::kMmio, kBase + off, size, true, v}); }
    void add_status(uint8_t bits) { write(0x70, read(0x70) | bits); }
    void setup_queue(uint32_t index, uint64_t ring, uint32_t num = 128) {
        write(0x30, index);
        ASSERT_EQ(read(0x44), 0u);
        ASSERT_EQ(read(0x34), 256u);
        write(0x38, num);
        write(0x80, ring & 0xffffffff);
        write(0x84, ring >> 32);
        write(0x90, (ring + 0x800) & 0xffffffff);
        write(0x94, (ring + 0x800) >> 32);
        write(0xa0, (ring + 0x1000) & 0xffffffff);
        write(0xa4, (ring + 0x1000) >> 32);
        write(0x44, 1);
    }
    void negotiate() {
        write(0x70, 0);
        add_status(0x01);
        add_status(0x02);
        write(0x14, 1);
        const uint64_t high = read(0x10);
        write(0x14, 0);
        const uint64_t f = (high << 32 | read(0x10)) & ~uint64_t{1};
        write(0x24, 0);
        write(0x20, f & 0xffffffff);
        write(0x24, 1);
        write(0x20, f >> 32);
        add_status(0x08);
    }
    void bring_up() {
        make();
        negotiate();
        setup_queue(0, 0x100000);
        setup_queue(1, 0x200000);
        add_status(0x04);
    }
};

TEST(TransportMmio, LinuxDriverEndToEnd) {
    MmioDriver d;
    d.make();
    EXPECT_EQ(d.platform.claimed, (std::vector<Range>{{kBase, kBase + 0x1ff}}));
    EXPECT_EQ(d.mmio->describe(), "mmio 0x82000000 irq 33");
    EXPECT_EQ(d.read(0x000), 0x74726976u);
    EXPECT_EQ(d.read(0x004), 2u);
    EXPECT_EQ(d.read(0x008), 2u);
    EXPECT_EQ(d.read(0x00c), 0x554d4551u);
    EXPECT_EQ(d.read(0x0b0), 0xffffffffu);  // SHMLen: no region
    d.negotiate();
    EXPECT_EQ(d.read(0x70), 0x0bu);
    EXPECT_EQ(d.device.features_set, (std::vector<uint64_t>{kVersion1 | kEventIdx}));
    d.setup_queue(0, 0x100000);
    d.setup_queue(1, 0x200000, 64);
    d.write(0x30, 2);
    EXPECT_EQ(d.read(0x34), 0u);  // no third queue
    d.add_status(0x04);
    ASSERT_EQ(d.device.started.size(), 1u);
    ASSERT_EQ(d.device.started[0].size(), 2u);
    EXPECT_EQ(d.device.started[0][1].size, 64);
    EXPECT_EQ(d.device.started[0][1].device, 0x201000u);

    d.write(0x50, 1);
    EXPECT_EQ(d.device.notified, (std::vector<uint16_t>{1}));
    d.mmio->queue_interrupt(1);
    EXPECT_TRUE(d.platform.irq);
    EXPECT_EQ(d.read(0x60), 1u);
    d.write(0x64, 1);
    EXPECT_FALSE(d.platform.irq);
    d.mmio->config_interrupt();
    EXPECT_EQ(d.read(0x60), 2u);
    EXPECT_EQ(d.read(0xfc), 7u);
    EXPECT_EQ(d.read(0x100, 8), 0x1000u);  // config any width
    EXPECT_EQ(d.read(0x109, 1), 0xbbu);
    d.write(0x60 + 0x04, 2);
    EXPECT_FALSE(d.platform.irq);

    d.write(0x70, 0);
    EXPECT_EQ(d.read(0x70), 0u);
    EXPECT_EQ(d.device.resets, 2);
    d.write(0x30, 1);
    EXPECT_EQ(d.read(0x44), 0u);
    d.write(0x44, 0);  // Linux's del_vq after the reset
    EXPECT_FALSE(d.mmio->broken());
    d.mmio.reset();
    EXPECT_TRUE(d.platform.claimed.empty());
}

TEST(TransportMmio, CreationRefusesRamAndOtherDevices) {
    RecordingPlatform p;
    RecordingDevice dev;
    EXPECT_EQ(VirtioMmio::create(p, dev, 0x1000, 5).error().kind, ErrorKind::kPolicy);
    p.other_devices.push_back({kBase + 0x100, kBase + 0x100});
    EXPECT_EQ(VirtioMmio::create(p, dev, kBase, 5).error().kind, ErrorKind::kPolicy);
    EXPECT_FALSE(VirtioMmio::create(p, dev, ~uint64_t{0} - 0x100, 5));
    dev.features = 0;  // no VERSION_1
    EXPECT_FALSE(VirtioMmio::create(p, dev, kBase + 0x1000, 5));
    EXPECT_TRUE(p.claimed.empty());
}

TEST(TransportMmio, RegistersAreThirtyTwoBitOnly) {
    MmioDriver d;
    d.make();
    EXPECT_EQ(d.read(0x000, 2), 0xffffu);
    EXPECT_EQ(d.read(0x000, 8), ~uint64_t{0});
    EXPECT_EQ(d.read(0x002, 4), 0xffffffffu);
    d.write(0x070, 1, 1);
    EXPECT_EQ(d.read(0x70), 0u);
    EXPECT_EQ(d.read(0x1fe, 4), 0xffffffffu);   // straddles the window's end
    EXPECT_EQ(d.read(0x10c, 4), 0xffffffffu);   // past the 12 config bytes
    d.write(0x10a, 0x1234, 4);                  // past the end: dropped
    EXPECT_TRUE(d.device.config_writes.empty());
    EXPECT_EQ(d.mmio->access({AccessKind::kMmio, kBase, 3, false, 0}), 0xffffffu);
    EXPECT_EQ(d.mmio->access({AccessKind::kMmio, kBase - 4, 4, false, 0}), 0xffffffffu);
    EXPECT_EQ(d.mmio->access({AccessKind::kPciConfig, 0, 4, false, 0}), 0xffffffffu);
    d.write(0x000, 5);  // read-only
    EXPECT_FALSE(d.mmio->broken());
}

TEST(TransportMmio, QueueSizesOutsideTheRulesAreRefused) {
    MmioDriver d;
    d.make();
    d.negotiate();
    d.write(0x30, 0);
    for (uint32_t bad : {0u, 3u, 100u, 512u, 0x10000u}) {
        d.write(0x38, bad);
        EXPECT_EQ(d.read(0x38), 256u) << bad;
    }
    d.write(0x38, 1);
    EXPECT_EQ(d.read(0x38), 1u);
    d.write(0x30, 0x12345);  // no such queue: writes ignored
    d.write(0x38, 16);
    d.write(0x44, 1);
    EXPECT_FALSE(d.mmio->broken());
}

TEST(TransportMmio, NotifyForMissingOrIdleQueuesIsIgnored) {
    MmioDriver d;
    d.bring_up();
    d.write(0x50, 2);
    d.write(0x50, 0xffffffff);
    EXPECT_TRUE(d.device.notified.empty());
    d.write(0x70, 0);
    d.write(0x50, 0);  // after the reset
    EXPECT_TRUE(d.device.notified.empty());
}

TEST(TransportMmio, DriverOkBeforeFeaturesOkBreaksTheDevice) {
    MmioDriver d;
    d.make();
    d.add_status(0x01);
    d.add_status(0x02);
    d.add_status(0x04);
    EXPECT_TRUE(d.mmio->broken());
    EXPECT_EQ(d.read(0x70) & 0x40, 0x40u);
    EXPECT_EQ(d.read(0x60), 2u);  // config interrupt
    EXPECT_TRUE(d.platform.irq);
    EXPECT_TRUE(d.device.started.empty());
    d.add_status(0x08);  // ignored until the reset
    EXPECT_EQ(d.read(0x70) & 0x08, 0u);
    d.write(0x70, 0);
    EXPECT_FALSE(d.mmio->broken());
    EXPECT_FALSE(d.platform.irq);
}

TEST(TransportMmio, ClearingBitsWithoutResetBreaksTheDevice) {
    MmioDriver d;
    d.bring_up();
    d.write(0x70, 0x03);
    EXPECT_TRUE(d.mmio->broken());
    d.write(0x70, d.read(0x70) | 0x80);  // FAILED is always accepted
    EXPECT_EQ(d.read(0x70) & 0x80, 0x80u);
}

TEST(TransportMmio, QueueRegistersAfterDriverOkBreakTheDevice) {
    MmioDriver d;
    d.bring_up();
    d.write(0x30, 0);
    d.write(0x80, 0x300000);
    EXPECT_TRUE(d.mmio->broken());
    EXPECT_EQ(d.device.started.size(), 1u);
}

TEST(TransportMmio, FeaturesNotOfferedOrWithoutVersion1AreRefused) {
    MmioDriver d;
    d.make();
    d.add_status(0x03);
    d.write(0x24, 0);
    d.write(0x20, 1u << 30);  // not offered
    d.write(0x24, 1);
    d.write(0x20, 1);
    d.add_status(0x08);
    EXPECT_EQ(d.read(0x70) & 0x08, 0u);
    d.write(0x24, 0);
    d.write(0x20, 1u << 29);
    d.write(0x24, 1);
    d.write(0x20, 0);  // VERSION_1 missing
    d.add_status(0x08);
    EXPECT_EQ(d.read(0x70) & 0x08, 0u);
    d.device.features_answer = fail_as(ErrorKind::kProtocol, "back-end says no");
    d.write(0x20, 1);
    d.add_status(0x08);
    EXPECT_EQ(d.read(0x70) & 0x08, 0u);
    EXPECT_EQ(d.device.features_set.size(), 1u);
    EXPECT_FALSE(d.mmio->broken());
}

TEST(TransportMmio, UnalignedRingsOrAFailedStartBreakTheDevice) {
    MmioDriver d;
    d.make();
    d.negotiate();
    d.setup_queue(0, 0x100008);  // descriptor table 8-aligned
    d.add_status(0x04);
    EXPECT_TRUE(d.mmio->broken());
    EXPECT_TRUE(d.device.started.empty());
    EXPECT_EQ(d.read(0x60), 2u);

    d.device.start_answer = fail_as(ErrorKind::kPeerGone, "back-end gone");
    d.negotiate();
    d.setup_queue(0, 0x100000);
    d.add_status(0x04);
    EXPECT_EQ(d.device.started.size(), 1u);
    EXPECT_TRUE(d.mmio->broken());
}

TEST(TransportMmio, DeviceBrokenRaisesAConfigInterrupt) {
    MmioDriver d;
    d.bring_up();
    d.mmio->device_broken();
    EXPECT_TRUE(d.mmio->broken());
    EXPECT_EQ(d.read(0x70) & 0x40, 0x40u);
    EXPECT_TRUE(d.platform.irq);
    d.write(0x70, d.read(0x70));  // writing back NEEDS_RESET is no error
    d.write(0x50, 0);
    EXPECT_TRUE(d.device.notified.empty());
}

}  // namespace
