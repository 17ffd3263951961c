// virtio-pci's MSI-X as Linux's PCI core and virtio_pci_modern use it
// (capability, table, a vector per queue), its masks and pending bits, the
// fall back to INTx, reset, and hostile accesses to the table and PBA.

#include "transport_pci_driver.hpp"

using namespace xenvhost;
using namespace xenvhost::transport;
using namespace xenvhost::transport::test;

namespace {

constexpr uint16_t kNoVector = 0xffff;

TEST(TransportMsix, CapabilityAndWhereItPutsTableAndPba) {
    Driver d;
    d.make();
    d.place_bar();
    d.walk_caps();
    EXPECT_EQ(d.caps.size(), 5u) << "the virtio capabilities are all still there";
    ASSERT_EQ(d.msix_cap, 0x98);
    EXPECT_EQ(d.cfg_read(d.msix_cap + 1, 1), 0u) << "last on the list";
    ASSERT_NO_FATAL_FAILURE(d.find_msix());
    EXPECT_EQ(d.msix_size, 3) << "two queues and config";
    EXPECT_EQ(d.msix_control(), 0x0002) << "disabled, unmasked";
    EXPECT_EQ(d.msix_table, kBarBase + 0x4000);
    EXPECT_EQ(d.msix_pba, kBarBase + 0x5000);
    for (const auto& [type, cap] : d.caps) {  // pages of their own, beside the virtio structures
        if (cap.length) {
            EXPECT_LE(cap.offset + cap.length, 0x4000u) << "capability type " << int{type};
        }
    }
    // Reset state: addresses and data 0, every vector masked, nothing pending.
    for (uint16_t v = 0; v < d.msix_size; ++v) {
        EXPECT_EQ(d.read(d.entry(v), 8), 0u);
        EXPECT_EQ(d.read(d.entry(v) + 8, 4), 0u);
        EXPECT_EQ(d.read(d.entry(v) + 12, 4), 1u);
    }
    EXPECT_EQ(d.read(d.msix_pba, 8), 0u);
    // Only Enable and Function Mask are writable.
    d.set_msix_control(0x3fff);
    EXPECT_EQ(d.msix_control(), 0x0002);
    d.cfg_write(d.msix_cap, 4, 0xffffffff);
    EXPECT_EQ(d.cfg_read(d.msix_cap, 4), 0xc0020011u);
    d.cfg_write(d.msix_cap + 3, 1, 0);  // byte 3 alone
    EXPECT_EQ(d.msix_control(), 0x0002);
    d.cfg_write(d.msix_cap + 4, 4, 0x1234);  // table and PBA offsets are read-only
    EXPECT_EQ(d.cfg_read(d.msix_cap + 4, 4), 0x4000u);
}

TEST(TransportMsix, QueueAndConfigInterruptsGoToTheirVectors) {
    Driver d;
    ASSERT_NO_FATAL_FAILURE(d.bring_up(true));
    ASSERT_FALSE(d.pci->broken());
    d.pci->queue_interrupt(1);
    d.pci->queue_interrupt(0);
    EXPECT_EQ(d.platform.msis, (std::vector<Msi>{Driver::message(2), Driver::message(1)}));
    EXPECT_TRUE(d.platform.irq_changes.empty()) << "INTx never asserted";
    EXPECT_EQ(d.cfg_read(0x06, 2) & 0x08, 0u) << "no INTx pending in the PCI status";
    EXPECT_EQ(d.read(d.isr, 1), 0u) << "the queue bit is not set with MSI-X";
    d.pci->config_interrupt();
    EXPECT_EQ(d.platform.msis.back(), Driver::message(0));
    EXPECT_EQ(d.read(d.isr, 1), 2u) << "the config bit is, as the virtio spec asks";
    EXPECT_TRUE(d.platform.irq_changes.empty());
    // The device breaking is a config interrupt too.
    d.pci->device_broken();
    EXPECT_EQ(d.platform.msis.size(), 4u);
    EXPECT_EQ(d.platform.msis.back(), Driver::message(0));
    // Addresses and data pass through as written, whatever they mean.
    d.program(1, Msi{0xffffffff00000003, 0xdeadbeef});
    d.mask(1, false);
    d.pci->queue_interrupt(0);
    EXPECT_EQ(d.platform.msis.back(), (Msi{0xffffffff00000003, 0xdeadbeef}));
}

TEST(TransportMsix, EnablingDeassertsIntxAndDisablingFallsBackToIt) {
    Driver d;
    ASSERT_NO_FATAL_FAILURE(d.bring_up());
    ASSERT_NO_FATAL_FAILURE(d.find_msix());
    d.pci->queue_interrupt(0);
    EXPECT_TRUE(d.platform.irq);
    for (uint16_t v = 0; v < d.msix_size; ++v) {
        d.program(v, Driver::message(v));
        d.mask(v, false);
    }
    d.set_msix_control(0x8000);
    EXPECT_FALSE(d.platform.irq) << "INTx deasserted when MSI-X is enabled";
    EXPECT_EQ(d.cfg_read(0x06, 2) & 0x08, 0u);
    ASSERT_EQ(d.set_queue_vector(0, 1), 1);
    d.pci->queue_interrupt(0);
    EXPECT_EQ(d.platform.msis, (std::vector<Msi>{Driver::message(1)}));
    EXPECT_FALSE(d.platform.irq);
    // Disabled again: the ISR bit left from before MSI-X shows on the line.
    d.set_msix_control(0x0000);
    EXPECT_TRUE(d.platform.irq);
    EXPECT_EQ(d.read(d.isr, 1), 1u);
    EXPECT_FALSE(d.platform.irq);
    d.pci->queue_interrupt(0);
    EXPECT_TRUE(d.platform.irq) << "INTx again";
    EXPECT_EQ(d.read(d.isr, 1), 1u);
    EXPECT_EQ(d.platform.msis.size(), 1u);
    EXPECT_EQ(d.platform.irq_changes, (std::vector<bool>{true, false, true, false, true, false}));
}

TEST(TransportMsix, MaskedVectorPendsAndIsSentOnceWhenUnmasked) {
    Driver d;
    ASSERT_NO_FATAL_FAILURE(d.bring_up(true));
    d.mask(2, true);
    d.pci->queue_interrupt(1);
    d.pci->queue_interrupt(1);
    EXPECT_TRUE(d.platform.msis.empty());
    EXPECT_EQ(d.read(d.msix_pba, 8), 0x4u);
    EXPECT_EQ(d.read(d.msix_pba, 4), 0x4u);
    EXPECT_EQ(d.read(d.msix_pba + 4, 4), 0u);
    d.pci->queue_interrupt(0);  // another vector is not held up
    EXPECT_EQ(d.platform.msis, (std::vector<Msi>{Driver::message(1)}));
    d.mask(2, false);
    EXPECT_EQ(d.platform.msis, (std::vector<Msi>{Driver::message(1), Driver::message(2)}));
    EXPECT_EQ(d.read(d.msix_pba, 8), 0u);
    d.mask(2, false);
    d.mask(2, true);
    d.mask(2, false);
    EXPECT_EQ(d.platform.msis.size(), 2u) << "delivered once";
    // The message is the one in the table when the mask goes.
    d.mask(2, true);
    d.pci->queue_interrupt(1);
    d.program(2, Msi{0x1000, 0x55});
    d.mask(2, false);
    EXPECT_EQ(d.platform.msis.back(), (Msi{0x1000, 0x55}));
    // A qword write of data and vector control unmasks with the new data.
    d.mask(2, true);
    d.pci->queue_interrupt(1);
    d.write(d.entry(2) + 8, 8, 0x66);
    EXPECT_EQ(d.platform.msis.back(), (Msi{0x1000, 0x66}));
    EXPECT_TRUE(d.platform.irq_changes.empty());
}

TEST(TransportMsix, FunctionMaskHoldsEveryVector) {
    Driver d;
    ASSERT_NO_FATAL_FAILURE(d.bring_up(true));
    d.set_msix_control(0xc000);
    d.pci->queue_interrupt(0);
    d.pci->queue_interrupt(1);
    d.pci->config_interrupt();
    EXPECT_TRUE(d.platform.msis.empty());
    EXPECT_EQ(d.read(d.msix_pba, 8), 0x7u);
    d.mask(1, false);  // the entry is unmasked already: the function mask still holds
    EXPECT_TRUE(d.platform.msis.empty());
    d.mask(0, true);
    d.set_msix_control(0x8000);
    EXPECT_EQ(d.platform.msis, (std::vector<Msi>{Driver::message(1), Driver::message(2)}));
    EXPECT_EQ(d.read(d.msix_pba, 8), 0x1u) << "vector 0 is still masked";
    // Disabled: an unmask sends nothing, and the config bit the ISR kept
    // (set with MSI-X too) is on INTx now, as the virtio spec's INTx rule says.
    d.set_msix_control(0x0000);
    d.mask(0, false);
    EXPECT_EQ(d.platform.msis.size(), 2u);
    EXPECT_TRUE(d.platform.irq);
    EXPECT_EQ(d.read(d.isr, 1), 2u);
    EXPECT_FALSE(d.platform.irq);
    d.set_msix_control(0x8000);
    EXPECT_EQ(d.platform.msis.back(), Driver::message(0));
    EXPECT_EQ(d.read(d.msix_pba, 8), 0u);
    EXPECT_EQ(d.platform.irq_changes, (std::vector<bool>{true, false}));
}

TEST(TransportMsix, NoVectorRaisesNothing) {
    Driver d;
    ASSERT_NO_FATAL_FAILURE(d.bring_up(true));
    EXPECT_EQ(d.set_queue_vector(0, kNoVector), kNoVector);
    EXPECT_EQ(d.set_config_vector(kNoVector), kNoVector);
    d.pci->queue_interrupt(0);
    d.pci->config_interrupt();
    d.pci->queue_interrupt(7);  // a queue that does not exist
    EXPECT_TRUE(d.platform.msis.empty());
    EXPECT_TRUE(d.platform.irq_changes.empty());
    EXPECT_EQ(d.read(d.msix_pba, 8), 0u);
    d.pci->queue_interrupt(1);
    EXPECT_EQ(d.platform.msis, (std::vector<Msi>{Driver::message(2)}));
}

TEST(TransportMsix, VectorBeyondTheTableReadsNoVector) {
    Driver d;
    d.make();
    d.place_bar();
    d.walk_caps();
    ASSERT_NO_FATAL_FAILURE(d.find_msix());
    ASSERT_EQ(d.msix_size, 3);
    EXPECT_EQ(d.read(d.common + 0x10, 2), kNoVector) << "unmapped at first";
    EXPECT_EQ(d.set_config_vector(3), kNoVector);
    EXPECT_EQ(d.set_config_vector(0x7ff), kNoVector);
    EXPECT_EQ(d.set_config_vector(2), 2);
    EXPECT_EQ(d.set_queue_vector(1, 3), kNoVector);
    EXPECT_EQ(d.set_queue_vector(1, 0), 0) << "vectors may be shared";
    EXPECT_EQ(d.set_queue_vector(0, 0), 0);
    EXPECT_EQ(d.set_queue_vector(5, 1), kNoVector) << "no queue 5";
    EXPECT_EQ(d.read(d.common + 0x1a, 4), 0xffffffffu) << "a 16-bit field";
    d.write(d.common + 0x16, 2, 1);
    EXPECT_EQ(d.read(d.common + 0x1a, 2), 0u);
}

TEST(TransportMsix, ResetUnmapsVectorsAndDropsPendingBits) {
    Driver d;
    ASSERT_NO_FATAL_FAILURE(d.bring_up(true));
    d.mask(1, true);
    d.pci->queue_interrupt(0);
    EXPECT_EQ(d.read(d.msix_pba, 8), 0x2u);
    d.write(d.common + 0x14, 1, 0);
    EXPECT_EQ(d.read(d.common + 0x10, 2), kNoVector);
    for (uint16_t q = 0; q < 2; ++q) {
        d.write(d.common + 0x16, 2, q);
        EXPECT_EQ(d.read(d.common + 0x1a, 2), kNoVector);
    }
    EXPECT_EQ(d.read(d.msix_pba, 8), 0u);
    d.mask(1, false);
    EXPECT_TRUE(d.platform.msis.empty()) << "nothing left over from before the reset";
    // MSI-X is the PCI function's: still enabled, the table as written.
    EXPECT_EQ(d.msix_control() & 0x8000, 0x8000);
    EXPECT_EQ(d.read(d.entry(2), 8), Driver::message(2).address);
    EXPECT_TRUE(d.platform.irq_changes.empty());
}

TEST(TransportMsix, HostileTableAndPbaAccessesAreRefused) {
    Driver d;
    ASSERT_NO_FATAL_FAILURE(d.bring_up(true));
    const Msi m1 = Driver::message(1);
    const uint64_t e1 = d.entry(1);
    // Not a full aligned dword or qword: reads all ones, writes dropped.
    EXPECT_EQ(d.read(e1, 1), 0xffu);
    EXPECT_EQ(d.read(e1, 2), 0xffffu);
    EXPECT_EQ(d.read(e1 + 2, 4), 0xffffffffu);
    EXPECT_EQ(d.read(e1 + 4, 8), ~uint64_t{0});
    d.write(e1, 1, 0);
    d.write(e1, 2, 0);
    d.write(e1 + 2, 4, 0);
    d.write(e1 + 8, 2, 0);
    d.write(e1 + 12, 1, 0);
    d.write(e1 + 4, 8, 0);
    EXPECT_EQ(d.read(e1, 8), m1.address);
    EXPECT_EQ(d.read(e1 + 8, 4), m1.data);
    EXPECT_EQ(d.read(e1 + 8, 8), m1.data) << "data, then vector control (unmasked)";
    // Entries beyond the table, in its page and across into the PBA's.
    EXPECT_EQ(d.read(d.entry(3), 4), 0xffffffffu);
    d.write(d.entry(3) + 12, 4, 0);
    EXPECT_EQ(d.read(d.msix_table + 0xff8, 8), ~uint64_t{0});
    EXPECT_EQ(d.read(d.msix_table + 0xffc, 8), ~uint64_t{0});
    // The PBA is read-only and one qword long here.
    d.mask(1, true);
    d.pci->queue_interrupt(0);
    d.write(d.msix_pba, 8, 0);
    d.write(d.msix_pba, 4, 0);
    EXPECT_EQ(d.read(d.msix_pba, 8), 0x2u);
    EXPECT_EQ(d.read(d.msix_pba, 2), 0xffffu);
    EXPECT_EQ(d.read(d.msix_pba + 8, 8), ~uint64_t{0});
    EXPECT_EQ(d.read(d.msix_pba + 0x800, 4), 0xffffffffu);
    // Through the PCI cfg window: dwords reach the table, bytes do not.
    d.cfg_write(0x88, 1, 0);
    d.cfg_write(0x8c, 4, 0x4000 + 16 * 2 + 8);  // vector 2's data
    d.cfg_write(0x90, 4, 4);
    EXPECT_EQ(d.cfg_read(0x94, 4), Driver::message(2).data);
    d.cfg_write(0x90, 4, 1);
    d.cfg_write(0x94, 4, 0x99);
    d.cfg_write(0x90, 4, 4);
    EXPECT_EQ(d.cfg_read(0x94, 4), Driver::message(2).data);
    EXPECT_FALSE(d.pci->broken());
    d.mask(1, false);
    EXPECT_EQ(d.platform.msis, (std::vector<Msi>{m1}));
}

// A PVHVM Linux on Xen (pci_msi_ignore_mask) never unmasks its entries: a
// message the platform masks itself (Xen: vector 0, a pirq) goes out
// through both masks; any other is held as usual.
TEST(TransportMsix, MessagesThePlatformMasksIgnoreTheTableMasks) {
    Driver d;
    d.platform.xen_pirqs = true;
    d.make();
    d.place_bar();
    d.walk_caps();
    ASSERT_NO_FATAL_FAILURE(d.find_msix());
    d.set_msix_control(0xc000);
    for (uint16_t v = 0; v < d.msix_size; ++v) {
        d.write(d.entry(v), 8, Driver::message(v).address);
        d.write(d.entry(v) + 8, 4, Driver::message(v).data);
    }
    d.set_msix_control(0x8000);
    EXPECT_EQ(d.read(d.entry(1) + 12, 4), 1u) << "still masked in the table";
    ASSERT_EQ(d.set_queue_vector(0, 1), 1);
    d.pci->queue_interrupt(0);
    EXPECT_EQ(d.platform.msis, (std::vector<Msi>{Driver::message(1)}));
    d.set_msix_control(0xc000);
    d.pci->queue_interrupt(0);
    EXPECT_EQ(d.platform.msis.size(), 2u) << "the function mask does not hold it either";
    EXPECT_EQ(d.read(d.msix_pba, 8), 0u);
    // A message with a vector (APIC delivery, no pirq) obeys the masks.
    d.write(d.entry(1) + 8, 4, 0x4041);
    d.set_msix_control(0x8000);
    d.pci->queue_interrupt(0);
    EXPECT_EQ(d.platform.msis.size(), 2u);
    EXPECT_EQ(d.read(d.msix_pba, 8), 0x2u);
    // Rewritten to a pirq message: no longer masked, so the pending one goes.
    d.write(d.entry(1) + 8, 4, 0x700);
    EXPECT_EQ(d.platform.msis.size(), 3u);
    EXPECT_EQ(d.platform.msis.back(), (Msi{Driver::message(1).address, 0x700}));
    EXPECT_EQ(d.read(d.msix_pba, 8), 0u);
    EXPECT_TRUE(d.platform.irq_changes.empty());
}

TEST(TransportMsix, TableSizeIsCappedAtOnePage) {
    Driver d;
    d.device.queues = 1024;
    d.make();
    d.place_bar();
    d.walk_caps();
    ASSERT_NO_FATAL_FAILURE(d.find_msix());
    EXPECT_EQ(d.msix_size, 256);
    EXPECT_EQ(d.read(d.entry(255) + 12, 4), 1u);
    EXPECT_EQ(d.read(d.msix_pba + 24, 8), 0u);
    EXPECT_EQ(d.read(d.msix_pba + 32, 8), ~uint64_t{0});
    EXPECT_EQ(d.set_queue_vector(300, 255), 255);
    EXPECT_EQ(d.set_queue_vector(300, 256), kNoVector);
}

}  // namespace
