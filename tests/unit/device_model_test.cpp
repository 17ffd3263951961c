// The device model's own logic without Xen: its command line, the router,
// the ioreq handler over an ioreq page in plain memory (the test plays Xen's
// side of the slot protocol), and the daemon's side (RAM layout, ready report).

#include "daemon/device_model_process.hpp"
#include "daemon/guest_layout.hpp"
#include "device_model/io_router.hpp"
#include "device_model/ioreq_handler.hpp"
#include "device_model/options.hpp"

#include <gtest/gtest.h>

#include <xen/hvm/ioreq.h>

#include <fmt/ranges.h>

#include <string>
#include <vector>

using namespace xenvhost;
using namespace xenvhost::device_model;

namespace {

// A device that records accesses and answers reads with address + 1.
struct RecordingTarget : IoTarget {
    std::vector<transport::IoAccess> seen;
    uint64_t access(const transport::IoAccess& a) override {
        seen.push_back(a);
        return a.addr + 1;
    }
    std::string describe() const override { return "recording target"; }
};

ioreq ready_request(uint8_t type, uint64_t addr, uint32_t size, bool read, uint64_t data = 0) {
    ioreq r{};
    r.addr = addr;
    r.data = data;
    r.count = 1;
    r.size = size;
    r.type = type;
    r.dir = read ? IOREQ_READ : IOREQ_WRITE;
    r.state = STATE_IOREQ_READY;
    return r;
}

}  // namespace

TEST(DeviceModelOptions, ParsesADeviceOfEachTransport) {
    auto pci = parse_dm_device("name=virtio_disk-51712,socket=/run/x.sock,transport=pci,slot=16");
    ASSERT_TRUE(pci) << pci.error().message;
    EXPECT_EQ(pci->pci_slot, 16);
    EXPECT_EQ(pci->virtio_id, 2u);
    auto mmio = parse_dm_device("name=d,socket=/s,transport=mmio,base=0xfe000000,irq=7,regions=grant");
    ASSERT_TRUE(mmio) << mmio.error().message;
    EXPECT_EQ(mmio->mmio_base, 0xfe000000u);
    EXPECT_EQ(mmio->irq, 7u);
    EXPECT_EQ(mmio->regions, RegionKind::kGrant);
}

TEST(DeviceModelOptions, RefusesBadDevices) {
    for (const char* text : {"socket=/s,slot=3", "name=d,slot=3", "name=d,socket=/s,slot=0", "name=d,socket=/s,slot=32",
                             "name=d,socket=/s,transport=mmio,base=0x123,irq=5", "name=d,socket=/s,transport=mmio,base=0x2000000",
                             "name=d,socket=/s,slot=3,colour=blue", "name=d,socket=/s,slot=x3", "name=d,socket=/s,slot",
                             "name=d,socket=/s,slot=3,transport=isa", "name=d,socket=/s,slot=3,regions=plain"})
        EXPECT_FALSE(parse_dm_device(text)) << text;
}

// On x86 the only line a device model drives without a PCI function is an
// ISA IRQ (Xen has no XEN_DMOP_set_irq_level there); Arm's SPIs start at 32.
TEST(DeviceModelOptions, MmioIrqIsAnIsaIrqOnX86) {
    auto irq15 = parse_dm_device("name=d,socket=/s,transport=mmio,base=0xfe000000,irq=15");
    ASSERT_TRUE(irq15) << irq15.error().message;
    auto irq33 = parse_dm_device("name=d,socket=/s,transport=mmio,base=0x2000000,irq=33");
#if defined(__x86_64__) || defined(__i386__)
    ASSERT_FALSE(irq33);
    EXPECT_NE(irq33.error().message.find("no ISA IRQ"), std::string::npos) << irq33.error().message;
#else
    EXPECT_TRUE(irq33) << irq33.error().message;
#endif
}

TEST(DeviceModelOptions, RamRangesMustBeOrderedAndDisjoint) {
    auto ram = parse_ram("0x0-0x9ffff,0x100000-0xfffffff");
    ASSERT_TRUE(ram) << ram.error().message;
    ASSERT_EQ(ram->size(), 2u);
    EXPECT_EQ((*ram)[1].last, 0xfffffffu);
    EXPECT_FALSE(parse_ram(""));
    EXPECT_FALSE(parse_ram("0x100-0x50"));
    EXPECT_FALSE(parse_ram("0x0-0x1000,0x800-0x2000"));
    EXPECT_FALSE(parse_ram("0x0-"));
}

namespace {

Result<DmOptions> parse(std::vector<std::string> args) {
    args.insert(args.begin(), {"xenvhost-dm", "--domid", "5", "--ram", "0x0-0x9ffff"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return parse_dm_options(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST(DeviceModelOptions, SandboxTakesAGuestIdentityAndARoot) {
    const std::string dev = "name=d,socket=/run/xenvhost/dom5/d.sock,slot=16";
    auto o = parse({"--device", dev, "--sandbox-user", "3900000005:3900000005", "--sandbox-root", "/run/x/dm-root"});
    ASSERT_TRUE(o) << o.error().message;
    ASSERT_TRUE(o->sandbox_user);
    EXPECT_EQ(*o->sandbox_user, (sandbox::Identity{3900000005u, 3900000005u}));
    EXPECT_EQ(o->sandbox_root, "/run/x/dm-root");
    auto plain = parse({"--device", dev});
    ASSERT_TRUE(plain) << plain.error().message;
    EXPECT_FALSE(plain->sandbox_user);
    // Root is never a guest's identity; the root must be given, absolute; no root without a user.
    for (auto bad : std::vector<std::vector<std::string>>{
             {"--device", dev, "--sandbox-user", "0:0", "--sandbox-root", "/r"},
             {"--device", dev, "--sandbox-user", "5", "--sandbox-root", "/r"},
             {"--device", dev, "--sandbox-user", "5:5"},
             {"--device", dev, "--sandbox-user", "5:5", "--sandbox-root", "relative"},
             {"--device", dev, "--sandbox-root", "/r"},
             // A relative socket would be looked for in the private root, where nothing is.
             {"--device", "name=d,socket=d.sock,slot=16", "--sandbox-user", "5:5", "--sandbox-root", "/r"}})
        EXPECT_FALSE(parse(bad)) << fmt::format("{}", fmt::join(bad, " "));
}

TEST(DeviceModelOptions, TheSandboxReachesEachSocketDirectoryOnce) {
    std::vector<DmDevice> devices(4);
    devices[0].socket_path = "/run/xenvhost/dom5/virtio_disk-51712.sock";
    devices[1].socket_path = "/run/xenvhost/dom5/virtio_disk-51728.sock";
    devices[2].socket_path = "/srv/backends/i2c.sock";
    devices[3].socket_path = "/top.sock";
    EXPECT_EQ(socket_directories(devices), (std::vector<std::string>{"/", "/run/xenvhost/dom5", "/srv/backends"}));
    EXPECT_TRUE(socket_directories({}).empty());
}

TEST(DeviceModelLayout, HvmRamAroundTheHoles) {
    EXPECT_EQ(daemon::hvm_ram_ranges(256 * 1024), "0x0-0x9ffff,0xc0000-0xfffffff");
    // 4 GiB of RAM: the MMIO hole's share goes above 4 GiB.
    EXPECT_EQ(daemon::hvm_ram_ranges(4ull * 1024 * 1024), "0x0-0x9ffff,0xc0000-0xefffffff,0x100000000-0x10fffffff");
}

TEST(DeviceModelReport, ParsesAndRefuses) {
    auto r = daemon::parse_ready_report("ioreq-server 3\ndevice virtio_disk-51712 pci 0000:00:10.0 intx A\nready\n");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->ready);
    EXPECT_EQ(r->ioreq_server, 3);
    EXPECT_EQ(r->placement.at("virtio_disk-51712"), "pci 0000:00:10.0 intx A");
    EXPECT_FALSE(daemon::parse_ready_report("ioreq-server x\n"));
    EXPECT_FALSE(daemon::parse_ready_report("ready"));  // no line end: cut short
    EXPECT_FALSE(daemon::parse_ready_report("hello\n"));
    auto partial = daemon::parse_ready_report("ioreq-server 1\n");
    ASSERT_TRUE(partial);
    EXPECT_FALSE(partial->ready);
}

TEST(DeviceModelRouter, RoutesClaimsAndRefusesOverlaps) {
    IoRouter router;
    RecordingTarget a, b;
    ASSERT_TRUE(router.add_mmio(0xf0000000, 0xf0003fff, a));
    EXPECT_FALSE(router.add_mmio(0xf0003000, 0xf0004fff, b));
    EXPECT_FALSE(router.add_mmio(0xeffff000, 0xf0000000, b));
    ASSERT_TRUE(router.add_mmio(0xf0004000, 0xf0004fff, b));
    EXPECT_EQ(router.mmio(0xf0000010, 4, false, 0), 0xf0000011u);
    EXPECT_EQ(router.mmio(0xf0004000, 4, true, 7), 0xf0004001u);
    ASSERT_EQ(b.seen.size(), 1u);
    EXPECT_TRUE(b.seen[0].write);
    EXPECT_EQ(router.mmio(0xf0005000, 4, false, 0), ~uint64_t{0});
    EXPECT_EQ(router.unclaimed_accesses(), 1u);
    router.remove_mmio(0xf0000000);
    EXPECT_EQ(router.mmio(0xf0000010, 4, false, 0), ~uint64_t{0});
    const xen::PciSbdf slot{0, 0, 16, 0};
    ASSERT_TRUE(router.add_pci(slot, a));
    EXPECT_FALSE(router.add_pci(slot, b));
    EXPECT_EQ(router.pci_config(encode_sbdf(slot), 0x10, 4, false, 0), 0x11u);
    EXPECT_EQ(router.pci_config(encode_sbdf({0, 0, 17, 0}), 0x0, 4, false, 0), ~uint64_t{0});
}

TEST(DeviceModelIoreq, AnswersEachTypeAndPublishesTheResponse) {
    IoRouter router;
    RecordingTarget dev;
    ASSERT_TRUE(router.add_mmio(0xf0000000, 0xf0000fff, dev));
    ASSERT_TRUE(router.add_pci({0, 0, 16, 0}, dev));
    unsigned invalidated = 0;
    IoreqHandler handler(router, [&] { ++invalidated; });

    ioreq idle{};
    EXPECT_FALSE(handler.handle(idle));  // nothing ready: no answer

    ioreq invalidate = ready_request(IOREQ_TYPE_INVALIDATE, 0, 0, false);
    EXPECT_TRUE(handler.handle(invalidate));
    EXPECT_EQ(invalidate.state, STATE_IORESP_READY);
    EXPECT_EQ(invalidated, 1u);  // the back-ends were told before the answer

    ioreq read = ready_request(IOREQ_TYPE_COPY, 0xf0000100, 2, true);
    ASSERT_TRUE(handler.handle(read));
    EXPECT_EQ(read.state, STATE_IORESP_READY);
    EXPECT_EQ(read.data, 0x0101u);  // address + 1, cut to the access size

    const uint64_t cfg_addr = (uint64_t{encode_sbdf({0, 0, 16, 0})} << 32) | 0x3c;
    ioreq cfg = ready_request(IOREQ_TYPE_PCI_CONFIG, cfg_addr, 1, false, 0x0b);
    ASSERT_TRUE(handler.handle(cfg));
    ASSERT_EQ(dev.seen.size(), 2u);
    EXPECT_EQ(dev.seen[1].kind, transport::AccessKind::kPciConfig);
    EXPECT_EQ(dev.seen[1].addr, 0x3cu);
    EXPECT_EQ(dev.seen[1].data, 0x0bu);

    EXPECT_EQ(handler.counters().invalidate, 1u);
    EXPECT_EQ(handler.counters().mmio, 1u);
    EXPECT_EQ(handler.counters().pci_config, 1u);
}

TEST(DeviceModelIoreq, RefusesWhatItCannotDoSafely) {
    IoRouter router;
    RecordingTarget dev;
    ASSERT_TRUE(router.add_mmio(0xf0000000, 0xf0000fff, dev));
    IoreqHandler handler(router, {});
    ioreq rep = ready_request(IOREQ_TYPE_COPY, 0xf0000000, 4, true);
    rep.count = 16;  // rep movs into the device
    ASSERT_TRUE(handler.handle(rep));
    EXPECT_EQ(rep.data, 0xffffffffu);
    ioreq indirect = ready_request(IOREQ_TYPE_COPY, 0xf0000000, 4, false, 0x1000);
    indirect.data_is_ptr = 1;
    ASSERT_TRUE(handler.handle(indirect));
    ioreq odd = ready_request(IOREQ_TYPE_COPY, 0xf0000000, 3, true);
    ASSERT_TRUE(handler.handle(odd));
    ioreq pio = ready_request(IOREQ_TYPE_PIO, 0xcf8, 4, true);
    ASSERT_TRUE(handler.handle(pio));
    EXPECT_EQ(pio.data, 0xffffffffu);
    EXPECT_TRUE(dev.seen.empty());  // none reached the device
    EXPECT_EQ(handler.counters().refused, 3u);
    EXPECT_EQ(handler.counters().other, 1u);
    for (const ioreq* r : {&rep, &indirect, &odd, &pio}) EXPECT_EQ(r->state, STATE_IORESP_READY);
}
