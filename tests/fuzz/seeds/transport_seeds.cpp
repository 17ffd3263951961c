// fuzz_transport seeds: Linux's drivers bringing up virtio-pci (BAR sizing
// and placement, capability walk, features, two queues, DRIVER_OK,
// notifies, interrupts, reset), with MSI-X too (table programmed, a vector
// per queue, masks and pending bits, disabled again), and virtio-mmio the
// same way; then a BAR moved onto RAM and refused, status out of order, bad
// queue sizes and unaligned rings, odd widths, hostile MSI-X accesses.

#include "common/bytes.hpp"
#include "common/formats.hpp"
#include "seeds/seed_writer.hpp"
#include "seeds/target_seeds.hpp"

#include <string>

namespace xenvhost::fuzz::seeds {
namespace {

const std::string kTarget = "fuzz_transport";
constexpr uint64_t kVersion1 = uint64_t{1} << 32;

class TransportSeed {
public:
    TransportSeed(bool pci, uint8_t flags = 0) {
        w_.u8(static_cast<uint8_t>((pci ? transport_cfg::kPci : 0) | flags | 3 << transport_cfg::kConfigWordsShift));
        w_.u8(2).u8(8).u64(kVersion1 | 1u << 29);
    }
    TransportSeed& cfg(uint16_t offset, uint8_t size, uint64_t data, bool write = true) {
        w_.u8(transport_op::kConfig).u16(offset).u8(size).u8(write).u64(data);
        return *this;
    }
    TransportSeed& reg(uint16_t offset, uint8_t size, uint64_t data, bool write = true) {
        w_.u8(transport_op::kWindow).u16(offset).u8(size).u8(write).u64(data);
        return *this;
    }
    TransportSeed& abs(uint64_t addr, uint8_t size, uint64_t data, bool write = true) {
        w_.u8(transport_op::kAbsolute).u64(addr).u8(size).u8(write).u64(data);
        return *this;
    }
    TransportSeed& op(uint8_t o) {
        w_.u8(o);
        return *this;
    }
    TransportSeed& queue_irq(uint16_t q) {
        w_.u8(transport_op::kQueueIrq).u16(q);
        return *this;
    }
    const ByteWriter& writer() const { return w_; }

private:
    ByteWriter w_;
};

// virtio-pci: BAR at kTransportBarGuess, then common config at 0x0000.
void pci_place(TransportSeed& s, uint64_t base = kTransportBarGuess) {
    s.cfg(0x10, 4, 0xffffffff).cfg(0x14, 4, 0xffffffff).cfg(0x10, 4, 0, false).cfg(0x14, 4, 0, false);
    s.cfg(0x10, 4, base & 0xffffffff).cfg(0x14, 4, base >> 32).cfg(0x04, 2, 0x6);
    for (uint16_t at : {0x34, 0x40, 0x50, 0x60, 0x70, 0x84, 0x98, 0x9c, 0xa0}) s.cfg(at, 4, 0, false);
}

void pci_features(TransportSeed& s) {
    s.reg(0x14, 1, 0).reg(0x14, 1, 1).reg(0x14, 1, 3);
    s.reg(0x00, 4, 1).reg(0x04, 4, 0, false).reg(0x00, 4, 0).reg(0x04, 4, 0, false);
    s.reg(0x08, 4, 0).reg(0x0c, 4, 1u << 29).reg(0x08, 4, 1).reg(0x0c, 4, 1).reg(0x14, 1, 0xb);
}

void pci_queue(TransportSeed& s, uint16_t q, uint64_t ring) {
    s.reg(0x16, 2, q).reg(0x18, 2, 0, false).reg(0x18, 2, 128);
    s.reg(0x20, 4, ring).reg(0x24, 4, 0).reg(0x28, 4, ring + 0x800).reg(0x2c, 4, 0);
    s.reg(0x30, 4, ring + 0x1000).reg(0x34, 4, 0).reg(0x1e, 2, 0, false).reg(0x1c, 2, 1);
}

void pci_linux() {
    TransportSeed s(true);
    pci_place(s);
    pci_features(s);
    pci_queue(s, 0, 0x100000);
    pci_queue(s, 1, 0x200000);
    s.reg(0x14, 1, 0xf).reg(0x3000, 2, 0).reg(0x3004, 2, 1);
    s.queue_irq(1).reg(0x1000, 1, 0, false).op(transport_op::kConfigIrq).reg(0x2000, 4, 0, false);
    s.reg(0x1000, 1, 0, false).cfg(0x04, 2, 0x406).queue_irq(0).cfg(0x04, 2, 0x6).reg(0x14, 1, 0);
    write_seed(kTarget, "pci-linux", s.writer());
}

// msix_capability_init: enabled under the function mask, entries masked,
// written and unmasked, function mask cleared; vp_find_vqs_msix's vectors.
void pci_msix() {
    TransportSeed s(true);
    pci_place(s);
    pci_features(s);
    s.cfg(0x9a, 2, 0xc000);
    for (uint16_t v = 0; v < 3; ++v) {
        const uint16_t e = 0x4000 + 16 * v;
        s.reg(e + 12, 4, 1).reg(e, 4, 0xfee00000 | (0x30 + v) << 12).reg(e + 4, 4, 0x100).reg(e + 8, 4, 0x700);
    }
    for (uint16_t v = 0; v < 3; ++v) s.reg(0x4000 + 16 * v + 12, 4, 0);
    s.cfg(0x9a, 2, 0x8000).reg(0x10, 2, 0).reg(0x10, 2, 0, false);
    pci_queue(s, 0, 0x100000);
    s.reg(0x1a, 2, 1).reg(0x1a, 2, 0, false);
    pci_queue(s, 1, 0x200000);
    s.reg(0x1a, 2, 2).reg(0x1a, 2, 0, false);
    s.reg(0x14, 1, 0xf).reg(0x3000, 2, 0).queue_irq(0).queue_irq(1).op(transport_op::kConfigIrq);
    s.reg(0x4000 + 16 * 2 + 12, 4, 1).queue_irq(1).reg(0x5000, 8, 0, false).reg(0x4000 + 16 * 2 + 12, 4, 0);
    s.cfg(0x9a, 2, 0xc000).queue_irq(0).op(transport_op::kBroken).cfg(0x9b, 1, 0x80);
    s.reg(0x4000 + 16 * 1 + 8, 8, 0x701).cfg(0x9a, 2, 0).queue_irq(0).reg(0x1000, 1, 0, false);
    s.cfg(0x9a, 2, 0x8000).reg(0x14, 1, 0).reg(0x10, 2, 0, false);
    write_seed(kTarget, "pci-msix", s.writer());
}

void pci_msix_hostile() {
    TransportSeed s(true);
    pci_place(s);
    s.cfg(0x98, 4, 0xffffffff).cfg(0x9c, 4, 0).cfg(0xa0, 4, 0).cfg(0x9b, 1, 0xc0).cfg(0x9a, 1, 0xff);
    s.reg(0x4000, 1, 0xff).reg(0x4001, 4, 0).reg(0x4004, 8, 0).reg(0x4002, 2, 0, false).reg(0x4030, 4, 0);
    s.reg(0x4ffc, 8, 0, false).reg(0x4ff0, 4, 0).reg(0x5000, 8, ~uint64_t{0}).reg(0x5004, 4, 0, false);
    s.reg(0x5008, 8, 0, false).reg(0x5001, 1, 0, false).reg(0x6000, 4, 0).reg(0x7ffc, 4, 0, false);
    s.reg(0x10, 2, 3).reg(0x10, 2, 0x7ff).reg(0x16, 2, 9).reg(0x1a, 2, 1).reg(0x1a, 4, 1);
    s.cfg(0x88, 1, 0).cfg(0x8c, 4, 0x400c).cfg(0x90, 4, 4).cfg(0x94, 4, 0).cfg(0x90, 4, 2).cfg(0x94, 4, 0, false);
    s.queue_irq(0).queue_irq(0xffff).op(transport_op::kConfigIrq).cfg(0x9a, 2, 0x4000).cfg(0x04, 2, 0x406);
    write_seed(kTarget, "pci-msix-hostile", s.writer());
}

void pci_hostile() {
    TransportSeed s(true, transport_cfg::kStartFail);
    pci_place(s, 0x10000000);  // on RAM
    s.op(transport_op::kRefuse);
    s.cfg(0x10, 4, 0xf0000000).cfg(0x14, 4, 0);
    s.op(transport_op::kRefuse);
    s.cfg(0x14, 4, 1).cfg(0x16, 2, 0xffff).cfg(0x10, 8, 0xe0000000);
    pci_features(s);
    s.reg(0x16, 2, 0).reg(0x18, 2, 3).reg(0x18, 2, 0).reg(0x18, 2, 512).reg(0x20, 8, 0x100008).reg(0x1c, 2, 1);
    s.reg(0x14, 1, 0xf).reg(0x0ffe, 4, 0, false).reg(0x3002, 2, 0).reg(0x3000 + 4 * 9, 2, 9);
    s.cfg(0x88, 1, 0).cfg(0x8c, 4, 0x14).cfg(0x90, 4, 1).cfg(0x94, 4, 0, false).cfg(0x94, 1, 0);
    s.cfg(0x3e, 4, 0, false).cfg(0xffe, 4, 0, false).cfg(0x00, 3, 0, false).op(transport_op::kBroken);
    write_seed(kTarget, "pci-hostile", s.writer());
}

void mmio_queue(TransportSeed& s, uint32_t q, uint64_t ring) {
    s.reg(0x30, 4, q).reg(0x44, 4, 0, false).reg(0x34, 4, 0, false).reg(0x38, 4, 64);
    s.reg(0x80, 4, ring).reg(0x84, 4, 0).reg(0x90, 4, ring + 0x400).reg(0x94, 4, 0);
    s.reg(0xa0, 4, ring + 0x800).reg(0xa4, 4, 0).reg(0x44, 4, 1);
}

void mmio_features(TransportSeed& s) {
    for (uint16_t r : {0x000, 0x004, 0x008, 0x00c}) s.reg(r, 4, 0, false);
    s.reg(0x70, 4, 0).reg(0x70, 4, 1).reg(0x70, 4, 3);
    s.reg(0x14, 4, 1).reg(0x10, 4, 0, false).reg(0x14, 4, 0).reg(0x10, 4, 0, false);
    s.reg(0x24, 4, 0).reg(0x20, 4, 1u << 29).reg(0x24, 4, 1).reg(0x20, 4, 1).reg(0x70, 4, 0xb);
}

void mmio_linux() {
    TransportSeed s(false);
    mmio_features(s);
    mmio_queue(s, 0, 0x100000);
    mmio_queue(s, 1, 0x200000);
    s.reg(0x70, 4, 0xf).reg(0x50, 4, 1).queue_irq(1).reg(0x60, 4, 0, false).reg(0x64, 4, 1);
    s.op(transport_op::kConfigIrq).reg(0xfc, 4, 0, false).reg(0x100, 8, 0, false).reg(0x64, 4, 2);
    s.reg(0x70, 4, 0).reg(0x30, 4, 0).reg(0x44, 4, 0);
    write_seed(kTarget, "mmio-linux", s.writer());
}

void mmio_hostile() {
    TransportSeed s(false, transport_cfg::kFeaturesFail);
    s.reg(0x70, 4, 4).reg(0x70, 4, 0).reg(0x70, 4, 1).reg(0x70, 4, 0xb);
    mmio_features(s);
    s.reg(0x30, 4, 7).reg(0x38, 4, 16).reg(0x50, 4, 7).reg(0x70, 2, 0).reg(0x1fe, 4, 0, false);
    s.reg(0x10c, 4, 1).reg(0x100, 5, 0, false).reg(0xb0, 4, 0, false);
    s.abs(kTransportMmioBase - 4, 4, 0, false).abs(0, 8, 0).abs(~uint64_t{0}, 4, 0, false);
    write_seed(kTarget, "mmio-hostile", s.writer());
}

}  // namespace

void transport_seeds() {
    pci_linux();
    pci_msix();
    pci_hostile();
    pci_msix_hostile();
    mmio_linux();
    mmio_hostile();
}

}  // namespace xenvhost::fuzz::seeds
