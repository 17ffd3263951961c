// virtio-pci as Linux's virtio_pci_modern driver drives it, end to end,
// against the recording platform and device.

#include "transport_pci_driver.hpp"

using namespace xenvhost;
using namespace xenvhost::transport;
using namespace xenvhost::transport::test;

namespace {

TEST(TransportPci, LinuxDriverEndToEnd) {
    Driver d;
    d.make();
    EXPECT_EQ(d.pci->describe(), "pci 0000:00:10.0 intx A");
    EXPECT_EQ(d.cfg_read(0x00, 4), 0x10421af4u);  // virtio, 0x1040 + block
    EXPECT_EQ(d.cfg_read(0x08, 4), 0x01000001u);  // class 01 00, revision 1
    EXPECT_EQ(d.cfg_read(0x2c, 4), 0x11001af4u);
    EXPECT_EQ(d.cfg_read(0x06, 2) & 0x10, 0x10u);
    EXPECT_EQ(d.cfg_read(0x3d, 1), 1u);
    EXPECT_EQ(d.cfg_read(0x200, 4), 0u);  // extended space
    d.cfg_write(0x3c, 1, 11);
    EXPECT_EQ(d.cfg_read(0x3c, 1), 11u);

    d.place_bar();
    ASSERT_EQ(d.platform.claimed, (std::vector<Range>{{kBarBase, kBarBase + 0x7fff}}));
    d.walk_caps();
    EXPECT_EQ(d.caps.size(), 5u);
    EXPECT_EQ(d.notify_multiplier, 4u);
    for (uint8_t t = 1; t <= 4; ++t) EXPECT_EQ(d.caps.at(t).bar, 0);

    d.write(d.common + 0x14, 1, 0);
    EXPECT_EQ(d.device.resets, 1);
    d.add_status(0x01);
    d.add_status(0x02);
    const uint64_t offered = d.features();
    EXPECT_EQ(offered, d.device.features);
    EXPECT_EQ(d.read(d.common + 0x12, 2), 2u);
    EXPECT_EQ(d.read(d.common + 0x10, 2), 0xffffu);  // no vector mapped
    d.set_features(kVersion1 | kEventIdx);
    d.add_status(0x08);
    EXPECT_EQ(d.read(d.common + 0x14, 1), 0x0bu);
    EXPECT_EQ(d.device.features_set, (std::vector<uint64_t>{kVersion1 | kEventIdx}));

    d.setup_queue(0, 0x100000);
    d.setup_queue(1, 0x200000);
    d.write(d.common + 0x16, 2, 2);
    EXPECT_EQ(d.read(d.common + 0x18, 2), 0u);  // no third queue
    for (uint16_t q = 0; q < 2; ++q) {
        d.write(d.common + 0x16, 2, q);
        EXPECT_EQ(d.read(d.common + 0x1a, 2), 0xffffu);
        d.write(d.common + 0x1c, 2, 1);
    }
    d.add_status(0x04);
    ASSERT_EQ(d.device.started.size(), 1u);
    const auto& q = d.device.started[0];
    ASSERT_EQ(q.size(), 2u);
    EXPECT_EQ(q[1].index, 1);
    EXPECT_EQ(q[1].size, 128);
    EXPECT_EQ(q[1].desc, 0x200000u);
    EXPECT_EQ(q[1].driver, 0x200800u);
    EXPECT_EQ(q[1].device, 0x201000u);
    EXPECT_FALSE(d.pci->broken());

    d.write(d.notify + 1 * d.notify_multiplier, 2, 1);
    d.write(d.notify, 2, 0);
    EXPECT_EQ(d.device.notified, (std::vector<uint16_t>{1, 0}));

    d.pci->queue_interrupt(1);
    EXPECT_TRUE(d.platform.irq);
    EXPECT_EQ(d.cfg_read(0x06, 2) & 0x08, 0x08u);  // status: interrupt pending
    EXPECT_EQ(d.read(d.isr, 1), 1u);
    EXPECT_FALSE(d.platform.irq);
    EXPECT_EQ(d.read(d.isr, 1), 0u);

    d.pci->config_interrupt();
    EXPECT_TRUE(d.platform.irq);
    EXPECT_EQ(d.read(d.common + 0x15, 1), 7u);  // config generation
    EXPECT_EQ(d.read(d.devcfg, 4), 0x1000u);    // capacity, low half
    EXPECT_EQ(d.read(d.devcfg + 8, 4), 0xddccbbaau);
    EXPECT_EQ(d.read(d.isr, 1), 2u);
    EXPECT_FALSE(d.platform.irq);

    d.write(d.common + 0x14, 1, 0);
    EXPECT_EQ(d.read(d.common + 0x14, 1), 0u);
    EXPECT_EQ(d.device.resets, 2);
    d.write(d.common + 0x16, 2, 1);
    EXPECT_EQ(d.read(d.common + 0x1c, 2), 0u);
    EXPECT_EQ(d.read(d.common + 0x20, 4), 0u);
    EXPECT_EQ(d.read(d.common + 0x18, 2), 256u);
    EXPECT_EQ(d.platform.irq_changes, (std::vector<bool>{true, false, true, false}));
    EXPECT_TRUE(d.platform.msis.empty()) << "MSI-X never enabled";

    d.pci.reset();
    EXPECT_TRUE(d.platform.claimed.empty());
}

TEST(TransportPci, IntxDisableMasksTheLineButNotTheStatusBit) {
    Driver d;
    d.bring_up();
    d.cfg_write(0x04, 2, 0x0406);
    d.pci->queue_interrupt(0);
    EXPECT_FALSE(d.platform.irq);
    EXPECT_EQ(d.cfg_read(0x06, 2) & 0x08, 0x08u);
    d.cfg_write(0x04, 2, 0x0006);
    EXPECT_TRUE(d.platform.irq);
    EXPECT_EQ(d.read(d.isr, 1), 1u);
    EXPECT_FALSE(d.platform.irq);
}

TEST(TransportPci, PciCfgCapabilityReachesTheBarWithoutDecoding) {
    Driver d;
    d.make();
    d.cfg_write(0x88, 1, 0);           // bar
    d.cfg_write(0x8c, 4, 0x12);        // common: num_queues
    d.cfg_write(0x90, 4, 2);           // length
    EXPECT_EQ(d.cfg_read(0x94, 4) & 0xffff, 2u);
    d.cfg_write(0x8c, 4, 0x14);  // device_status
    d.cfg_write(0x90, 4, 1);
    d.cfg_write(0x94, 4, 0x01);
    EXPECT_EQ(d.cfg_read(0x94, 4) & 0xff, 1u);
    d.cfg_write(0x90, 4, 3);  // not a width: refused, data unchanged
    d.cfg_write(0x94, 4, 0);
    EXPECT_TRUE(d.platform.claimed.empty());
}

TEST(TransportPci, HostileRegisterAccessesAreRefused) {
    Driver d;
    d.bring_up();
    ASSERT_FALSE(d.pci->broken());
    EXPECT_EQ(d.read(d.common + 0x12, 4), 0xffffffffu);  // 16-bit field read as 32
    EXPECT_EQ(d.read(d.common + 0x13, 1), 0xffu);        // inside a field
    d.write(d.common + 0x14, 2, 0);                     // status is one byte: no reset
    EXPECT_EQ(d.device.resets, 1);
    // 8 bytes: device_feature (window 0), then driver_feature_select (1)
    EXPECT_EQ(d.read(d.common + 0x04, 8), uint64_t{1} << 32 | (d.device.features & 0xffffffff));
    EXPECT_EQ(d.cfg_read(0x3e, 4), 0x50090000u);  // straddles two dwords: 0x3e..0x41
    EXPECT_EQ(d.cfg_read(0xffe, 4), 0xffffffffu);  // past config space
    EXPECT_EQ(d.pci->access({AccessKind::kPciConfig, 0, 3, false, 0}), 0xffffffu);
    d.cfg_write(0x00, 4, 0);  // read-only identity
    EXPECT_EQ(d.cfg_read(0x00, 2), 0x1af4u);
    EXPECT_EQ(d.read(d.devcfg + 10, 4), 0xffffffffu);  // config past its end
    d.write(d.devcfg + 12, 1, 5);
    EXPECT_TRUE(d.device.config_writes.empty());
    d.write(d.devcfg + 4, 8, 0x1122334455667788);
    ASSERT_EQ(d.device.config_writes.size(), 1u);
    EXPECT_EQ(d.device.config_writes[0].second.size(), 8u);
    d.write(d.notify + 2, 2, 0);  // between two slots
    d.write(d.notify + 4 * 5, 2, 5);  // queue 5 does not exist
    d.write(d.notify, 8, 0);  // no 8-byte notify
    EXPECT_TRUE(d.device.notified.empty());
    EXPECT_FALSE(d.pci->broken());
    d.write(d.common + 0x20, 4, 0x400000);  // a queue register after DRIVER_OK
    EXPECT_TRUE(d.pci->broken());
    EXPECT_EQ(d.read(d.isr, 1), 2u);
}

TEST(TransportPci, QueueSizesAndRingAlignment) {
    Driver d;
    d.make();
    d.place_bar();
    d.walk_caps();
    d.add_status(0x03);
    d.set_features(kVersion1);
    d.add_status(0x08);
    d.write(d.common + 0x16, 2, 0);
    for (uint16_t bad : {0, 5, 384, 512}) {
        d.write(d.common + 0x18, 2, bad);
        EXPECT_EQ(d.read(d.common + 0x18, 2), 256u) << bad;
    }
    d.write(d.common + 0x20, 8, 0x100000);
    d.write(d.common + 0x28, 8, 0x100801);  // avail ring not 2-aligned
    d.write(d.common + 0x30, 8, 0x101000);
    EXPECT_EQ(d.read(d.common + 0x20, 8), 0x100000u);
    d.write(d.common + 0x1c, 2, 1);
    d.add_status(0x04);
    EXPECT_TRUE(d.pci->broken());
    EXPECT_TRUE(d.device.started.empty());
    EXPECT_TRUE(d.platform.irq);
}

TEST(TransportPci, AccessesAfterResetStartFromScratch) {
    Driver d;
    d.bring_up();
    d.pci->queue_interrupt(0);
    d.write(d.common + 0x14, 1, 0);
    EXPECT_FALSE(d.platform.irq);
    EXPECT_EQ(d.read(d.isr, 1), 0u);
    d.write(d.notify, 2, 0);
    EXPECT_TRUE(d.device.notified.empty());
    d.add_status(0x04);  // DRIVER_OK straight after the reset
    EXPECT_TRUE(d.pci->broken());
    d.write(d.common + 0x14, 1, 0);
    EXPECT_FALSE(d.pci->broken());
    EXPECT_EQ(d.device.started.size(), 1u);
}

}  // namespace
