#pragma once
// The guest's side of virtio-pci in the unit tests: config space and BAR
// accesses, and a driver that probes and brings the device up as Linux's
// virtio_pci_modern does, against the recording platform and device.

#include "transport/virtio_pci.hpp"
#include "transport_doubles.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>

namespace xenvhost::transport::test {

inline constexpr uint64_t kBarBase = 0xfe000000;  // above the double's 2 GiB of RAM

// The guest's side: config space and BAR accesses.
struct PciGuest {
    RecordingPlatform platform;
    RecordingDevice device;
    std::unique_ptr<VirtioPci> pci;

    void make() {
        auto p = VirtioPci::create(platform, device, PciAddress{0, 0, 0x10, 0});
        ASSERT_TRUE(p) << p.error().message;
        pci = std::move(*p);
    }
    uint64_t cfg_read(uint64_t off, uint8_t size) { return pci->access({AccessKind::kPciConfig, off, size, false, 0}); }
    void cfg_write(uint64_t off, uint8_t size, uint64_t v) { pci->access({AccessKind::kPciConfig, off, size, true, v}); }
    uint64_t read(uint64_t addr, uint8_t size) { return pci->access({AccessKind::kMmio, addr, size, false, 0}); }
    void write(uint64_t addr, uint8_t size, uint64_t v) { pci->access({AccessKind::kMmio, addr, size, true, v}); }
};

// What Linux's probe learns from the vendor capabilities.
struct Cap {
    uint8_t bar;
    uint32_t offset, length;
};

struct Driver : PciGuest {
    std::map<uint8_t, Cap> caps;
    unsigned cap_count = 0;
    uint8_t msix_cap = 0;
    uint32_t notify_multiplier = 0;
    uint64_t common = 0, isr = 0, devcfg = 0, notify = 0;

    void place_bar() {
        cfg_write(0x10, 4, 0xffffffff);
        cfg_write(0x14, 4, 0xffffffff);
        const uint64_t mask = cfg_read(0x10, 4) | cfg_read(0x14, 4) << 32;
        EXPECT_EQ(mask & 0xf, 0x4u);  // memory, 64-bit, not prefetchable
        EXPECT_EQ(~(mask & ~uint64_t{0xf}) + 1, 0x8000u);
        cfg_write(0x10, 4, kBarBase & 0xffffffff);
        cfg_write(0x14, 4, kBarBase >> 32);
        cfg_write(0x04, 2, 0x0006);  // memory space, bus master
    }
    void walk_caps() {
        for (uint8_t at = cfg_read(0x34, 1); at; at = cfg_read(at + 1, 1)) {
            ASSERT_LT(++cap_count, 16u) << "a loop in the capability list";
            if (cfg_read(at, 1) == 0x11) {  // MSI-X, as pci_find_capability finds it
                msix_cap = at;
                continue;
            }
            ASSERT_EQ(cfg_read(at, 1), 0x09u);  // vendor-specific
            const auto type = static_cast<uint8_t>(cfg_read(at + 3, 1));
            caps[type] = Cap{static_cast<uint8_t>(cfg_read(at + 4, 1)), static_cast<uint32_t>(cfg_read(at + 8, 4)),
                             static_cast<uint32_t>(cfg_read(at + 12, 4))};
            if (type == 2) notify_multiplier = cfg_read(at + 16, 4);
        }
        common = kBarBase + caps.at(1).offset;
        notify = kBarBase + caps.at(2).offset;
        isr = kBarBase + caps.at(3).offset;
        devcfg = kBarBase + caps.at(4).offset;
    }
    void add_status(uint8_t bits) { write(common + 0x14, 1, read(common + 0x14, 1) | bits); }
    uint64_t features() {
        write(common + 0x00, 4, 1);
        uint64_t f = read(common + 0x04, 4) << 32;
        write(common + 0x00, 4, 0);
        return f | read(common + 0x04, 4);
    }
    void set_features(uint64_t f) {
        write(common + 0x08, 4, 0);
        write(common + 0x0c, 4, f & 0xffffffff);
        write(common + 0x08, 4, 1);
        write(common + 0x0c, 4, f >> 32);
    }
    void setup_queue(uint16_t index, uint64_t ring) {
        write(common + 0x16, 2, index);
        ASSERT_EQ(read(common + 0x18, 2), 256u);
        ASSERT_EQ(read(common + 0x1c, 2), 0u);
        write(common + 0x18, 2, 128);
        write(common + 0x20, 4, ring & 0xffffffff);  // vp_iowrite64_twopart: low, then high
        write(common + 0x24, 4, ring >> 32);
        write(common + 0x28, 4, (ring + 0x800) & 0xffffffff);
        write(common + 0x2c, 4, (ring + 0x800) >> 32);
        write(common + 0x30, 4, (ring + 0x1000) & 0xffffffff);
        write(common + 0x34, 4, (ring + 0x1000) >> 32);
        EXPECT_EQ(read(common + 0x1e, 2), index);
    }
    // Up to DRIVER_OK with two queues; with `msix`, as vp_find_vqs_msix
    // does it: MSI-X enabled, config on vector 0, queue i on vector i + 1.
    void bring_up(bool msix = false) {
        make();
        place_bar();
        walk_caps();
        write(common + 0x14, 1, 0);
        add_status(0x01);
        add_status(0x02);
        set_features(features() & ~uint64_t{1});
        add_status(0x08);
        ASSERT_TRUE(read(common + 0x14, 1) & 0x08);
        if (msix) {
            ASSERT_NO_FATAL_FAILURE(enable_msix());
            ASSERT_EQ(set_config_vector(0), 0);
        }
        setup_queue(0, 0x100000);
        setup_queue(1, 0x200000);
        for (uint16_t q = 0; q < 2; ++q) {
            if (msix) {
                ASSERT_EQ(set_queue_vector(q, static_cast<uint16_t>(q + 1)), q + 1);
            }
            write(common + 0x16, 2, q);
            write(common + 0x1c, 2, 1);
        }
        add_status(0x04);
    }

    // MSI-X, found as pci_find_capability finds it.
    uint64_t msix_table = 0, msix_pba = 0;
    uint16_t msix_size = 0;
    uint16_t msix_control() { return static_cast<uint16_t>(cfg_read(msix_cap + 2, 2)); }
    void set_msix_control(uint16_t value) { cfg_write(msix_cap + 2, 2, value); }
    void find_msix() {
        ASSERT_NE(msix_cap, 0) << "no MSI-X capability";
        msix_size = static_cast<uint16_t>((msix_control() & 0x7ff) + 1);
        const auto table = static_cast<uint32_t>(cfg_read(msix_cap + 4, 4));
        const auto pba = static_cast<uint32_t>(cfg_read(msix_cap + 8, 4));
        ASSERT_EQ(table & 7, 0u) << "table in BAR 0";
        ASSERT_EQ(pba & 7, 0u) << "PBA in BAR 0";
        msix_table = kBarBase + (table & ~7u);
        msix_pba = kBarBase + (pba & ~7u);
    }
    uint64_t entry(uint16_t vector) const { return msix_table + 16 * vector; }
    // A message per vector in the form a PVHVM Linux writes on Xen (pirq
    // 0x130 + v in the destination id bits, ExtINT, vector 0): opaque here.
    static Msi message(uint16_t vector) {
        const uint32_t pirq = 0x130 + vector;
        return {uint64_t{pirq >> 8 << 8} << 32 | 0xfee00000 | (pirq & 0xff) << 12, 0x700};
    }
    void program(uint16_t vector, const Msi& m) {
        write(entry(vector) + 12, 4, 1);
        write(entry(vector), 4, m.address & 0xffffffff);
        write(entry(vector) + 4, 4, m.address >> 32);
        write(entry(vector) + 8, 4, m.data);
    }
    void mask(uint16_t vector, bool masked) { write(entry(vector) + 12, 4, masked ? 1 : 0); }
    // msix_capability_init: enabled under the function mask, every entry
    // masked and written, then unmasked, then the function mask cleared.
    void enable_msix() {
        ASSERT_NO_FATAL_FAILURE(find_msix());
        set_msix_control(0xc000);
        for (uint16_t v = 0; v < msix_size; ++v) program(v, message(v));
        for (uint16_t v = 0; v < msix_size; ++v) mask(v, false);
        set_msix_control(0x8000);
    }
    uint16_t set_config_vector(uint16_t v) {
        write(common + 0x10, 2, v);
        return static_cast<uint16_t>(read(common + 0x10, 2));
    }
    uint16_t set_queue_vector(uint16_t q, uint16_t v) {
        write(common + 0x16, 2, q);
        write(common + 0x1a, 2, v);
        return static_cast<uint16_t>(read(common + 0x1a, 2));
    }
};

}  // namespace xenvhost::transport::test
