// fuzz_transport: the register emulation of virtio-pci (MSI-X included) and
// virtio-mmio (src/transport) under any sequence of guest accesses, device
// interrupts, a device that breaks and a platform that refuses claims.
// Oracles: the sanitizers; the platform hears only level changes, and the
// line follows the interrupt status (virtio-mmio's InterruptStatus, PCI's
// status bit and INTx disable) and is low while MSI-X is enabled; no MSI
// goes out across a step that starts and ends with MSI-X disabled, nor one
// the platform does not mask itself while the function is masked; claims
// never touch RAM or a refused range,
// are only released once claimed, are at most one at a time and all gone
// with the transport, which also leaves the line low; the device sees only
// what VirtioDevice promises: features offered with VERSION_1, started
// queues that are valid, notifies of started queues only, config writes
// inside its config. Layout: common/formats.hpp.

#include "base/log.hpp"
#include "common/bytes.hpp"
#include "common/check.hpp"
#include "common/formats.hpp"
#include "transport/virtio_mmio.hpp"
#include "transport/virtio_pci.hpp"

#include <bit>
#include <memory>
#include <optional>
#include <vector>

using namespace xenvhost;
using namespace xenvhost::fuzz;
using namespace xenvhost::transport;

namespace {

struct Range {
    uint64_t first, last;
};

class CheckedPlatform : public Platform {
public:
    std::vector<Range> claimed;
    bool refuse = false;
    bool level = false;

    Result<> claim_mmio(uint64_t first, uint64_t last) override {
        FUZZ_CHECK(first <= last, "claim of {:#x}-{:#x}", first, last);
        FUZZ_CHECK(!overlaps_ram(first, last), "claim of {:#x}-{:#x} on RAM", first, last);
        if (refuse) return fail_as(ErrorKind::kPolicy, "another device is there");
        claimed.push_back({first, last});
        return {};
    }
    Result<> release_mmio(uint64_t first, uint64_t last) override {
        for (auto it = claimed.begin(); it != claimed.end(); ++it) {
            if (it->first != first || it->last != last) continue;
            claimed.erase(it);
            return {};
        }
        FUZZ_CHECK(false, "release of {:#x}-{:#x}, which is not claimed", first, last);
        return {};
    }
    bool overlaps_ram(uint64_t first, uint64_t) const override { return first < kTransportRamEnd; }
    void set_irq_level(bool asserted) override {
        FUZZ_CHECK(asserted != level, "irq level set to {} twice", asserted);
        level = asserted;
    }
    void send_msi(uint64_t address, uint32_t data) override {
        ++msis;
        if (!msi_masked_elsewhere(address, data)) ++maskable_msis;
    }
    // Xen's rule, so that both kinds of message are reached.
    bool msi_masked_elsewhere(uint64_t, uint32_t data) const override { return (data & 0xff) == 0; }
    uint64_t msis = 0;
    uint64_t maskable_msis = 0;
};

class CheckedDevice : public VirtioDevice {
public:
    uint64_t features = 0;
    uint16_t queues = 0;
    uint16_t max_size = 1;
    std::vector<uint8_t> config_bytes;
    bool features_fail = false, start_fails = false;
    std::optional<uint64_t> negotiated;
    std::vector<bool> started;

    uint32_t device_id() const override { return 2; }
    uint64_t device_features() const override { return features; }
    uint16_t num_queues() const override { return queues; }
    uint16_t queue_max_size() const override { return max_size; }
    std::span<const uint8_t> config() const override { return config_bytes; }
    uint32_t config_generation() const override { return 1; }
    void write_config(uint32_t offset, std::span<const uint8_t> data) override {
        FUZZ_CHECK(offset <= config_bytes.size() && data.size() <= config_bytes.size() - offset,
                   "config write of {} at {}", data.size(), offset);
    }
    Result<> set_features(uint64_t f) override {
        FUZZ_CHECK((f & ~features) == 0 && (f & (uint64_t{1} << 32)), "features {:#x} of {:#x}", f, features);
        if (features_fail) return fail_as(ErrorKind::kProtocol, "refused");
        negotiated = f;
        return {};
    }
    Result<> start(std::span<const QueueConfig> qs) override {
        FUZZ_CHECK(negotiated.has_value(), "start before features were set");
        started.assign(queues, false);
        for (const auto& q : qs) {
            FUZZ_CHECK(q.index < queues && !started[q.index], "queue {} started twice or absent", q.index);
            FUZZ_CHECK(q.size && q.size <= max_size && std::has_single_bit(q.size), "queue size {}", q.size);
            FUZZ_CHECK(q.desc % 16 == 0 && q.driver % 2 == 0 && q.device % 4 == 0, "rings misaligned");
            started[q.index] = true;
        }
        if (start_fails) return fail_as(ErrorKind::kPeerGone, "back-end gone");
        return {};
    }
    void notify(uint16_t index) override {
        FUZZ_CHECK(index < started.size() && started[index], "notify of queue {} not started", index);
    }
    void reset() override {
        negotiated.reset();
        started.clear();
    }
};

IoAccess access_at(ByteReader& in, AccessKind kind, uint64_t addr) {
    IoAccess a{kind, addr, 0, false, 0};
    a.size = in.u8();
    a.write = in.flag();
    a.data = in.u64();
    return a;
}

// Where an MMIO window access lands: virtio-mmio's window, or the BAR
// wherever the guest placed it.
uint64_t window_base(const CheckedPlatform& platform, bool pci) {
    if (!pci) return kTransportMmioBase;
    return platform.claimed.empty() ? kTransportBarGuess : platform.claimed.front().first;
}

uint16_t msix_control(Transport& t) {
    return static_cast<uint16_t>(t.access({AccessKind::kPciConfig, pci::kCapMsix + 2, 2, false, 0}));
}

void check_line(Transport& t, const CheckedPlatform& platform, bool pci) {
    FUZZ_CHECK(platform.claimed.size() <= 1, "{} ranges claimed at once", platform.claimed.size());
    if (pci) {
        const uint64_t command = t.access({AccessKind::kPciConfig, 4, 4, false, 0});
        const bool pending = command & (uint64_t{pci::kStatusInterrupt} << 16);
        FUZZ_CHECK(platform.level == (pending && !(command & pci::kCommandIntxDisable)),
                   "line {} with command/status {:#x}", platform.level, command);
        const auto control = static_cast<uint16_t>(t.access({AccessKind::kPciConfig, pci::kCapMsix + 2, 2, false, 0}));
        FUZZ_CHECK(!(platform.level && (control & pci::kMsixEnable)), "INTx asserted with MSI-X enabled");
        FUZZ_CHECK((control & 0x7ff) < pci::kMaxMsixVectors, "MSI-X table size {}", (control & 0x7ff) + 1);
        return;
    }
    const uint64_t status = t.access({AccessKind::kMmio, kTransportMmioBase + 0x60, 4, false, 0});
    FUZZ_CHECK(platform.level == (status != 0), "line {} with InterruptStatus {:#x}", platform.level, status);
    const uint64_t device_status = t.access({AccessKind::kMmio, kTransportMmioBase + 0x70, 4, false, 0});
    FUZZ_CHECK(t.broken() == ((device_status & 0x40) != 0), "broken() disagrees with status {:#x}", device_status);
}

void run(Transport& t, CheckedPlatform& platform, bool pci, ByteReader& in) {
    while (!in.empty()) {
        const uint16_t control_before = pci ? msix_control(t) : 0;
        const uint64_t msis_before = platform.msis, maskable_before = platform.maskable_msis;
        switch (in.u8() % transport_op::kCount) {
            case transport_op::kConfig: {
                const uint16_t offset = in.u16();
                (void)t.access(access_at(in, AccessKind::kPciConfig, offset));
                break;
            }
            case transport_op::kWindow: {
                const uint64_t addr = window_base(platform, pci) + in.u16();
                (void)t.access(access_at(in, AccessKind::kMmio, addr));
                break;
            }
            case transport_op::kAbsolute: {
                const uint64_t addr = in.u64();
                (void)t.access(access_at(in, AccessKind::kMmio, addr));
                break;
            }
            case transport_op::kQueueIrq: t.queue_interrupt(in.u16()); break;
            case transport_op::kConfigIrq: t.config_interrupt(); break;
            case transport_op::kBroken: t.device_broken(); break;
            case transport_op::kRefuse: platform.refuse = !platform.refuse; break;
        }
        check_line(t, platform, pci);
        const uint16_t control = pci ? msix_control(t) : 0;
        if (!(control_before & pci::kMsixEnable) && !(control & pci::kMsixEnable))
            FUZZ_CHECK(platform.msis == msis_before, "an MSI sent while MSI-X was disabled");
        if ((control_before & pci::kMsixFunctionMask) && (control & pci::kMsixFunctionMask))
            FUZZ_CHECK(platform.maskable_msis == maskable_before, "an MSI sent through the function mask");
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log::set_level(log::Level::kError);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ByteReader in(data, size);
    const uint8_t config = in.u8();
    const bool pci = config & transport_cfg::kPci;
    CheckedPlatform platform;
    CheckedDevice device;
    device.features_fail = config & transport_cfg::kFeaturesFail;
    device.start_fails = config & transport_cfg::kStartFail;
    device.config_bytes.assign(size_t{4} * (config >> transport_cfg::kConfigWordsShift), 0x5a);
    device.queues = in.u8() % 9;
    device.max_size = static_cast<uint16_t>(1u << (in.u8() % 16));
    device.features = in.u64() | (uint64_t{1} << 32);
    {
        std::unique_ptr<Transport> t;
        if (pci) {
            auto p = VirtioPci::create(platform, device, PciAddress{0, 0, 4, 0});
            FUZZ_CHECK(p.has_value(), "virtio-pci refused: {}", p ? "" : p.error().message);
            t = std::move(*p);
        } else {
            auto m = VirtioMmio::create(platform, device, kTransportMmioBase, 5);
            FUZZ_CHECK(m.has_value(), "virtio-mmio refused: {}", m ? "" : m.error().message);
            t = std::move(*m);
        }
        run(*t, platform, pci, in);
    }
    FUZZ_CHECK(platform.claimed.empty(), "{} ranges still claimed", platform.claimed.size());
    FUZZ_CHECK(!platform.level, "line left asserted");
    return 0;
}
