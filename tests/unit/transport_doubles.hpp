#pragma once
// Recording doubles of what a transport talks to: the platform (claimed
// ranges, RAM, ranges owned by another device, the interrupt line, MSIs) and the
// device behind it (features, config, what the driver started and kicked).

#include "transport/platform.hpp"
#include "transport/virtio_device.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace xenvhost::transport::test {

struct Range {
    uint64_t first, last;
    bool operator==(const Range&) const = default;
};

struct Msi {
    uint64_t address;
    uint32_t data;
    bool operator==(const Msi&) const = default;
};

inline bool overlap(const Range& a, const Range& b) { return a.first <= b.last && b.first <= a.last; }

class RecordingPlatform : public Platform {
public:
    std::vector<Range> ram{{0, 0x7fffffff}};  // 2 GiB of RAM at 0
    std::vector<Range> other_devices;         // claims that collide are refused
    std::vector<Range> claimed;
    std::vector<Range> released;
    std::vector<bool> irq_changes;
    bool irq = false;
    std::vector<Msi> msis;

    Result<> claim_mmio(uint64_t first, uint64_t last) override {
        const Range r{first, last};
        for (const auto& o : other_devices)
            if (overlap(o, r)) return fail_as(ErrorKind::kPolicy, "another device is there");
        claimed.push_back(r);
        return {};
    }
    Result<> release_mmio(uint64_t first, uint64_t last) override {
        auto it = std::find(claimed.begin(), claimed.end(), Range{first, last});
        if (it == claimed.end()) return fail_as(ErrorKind::kPolicy, "not claimed");
        claimed.erase(it);
        released.push_back({first, last});
        return {};
    }
    bool overlaps_ram(uint64_t first, uint64_t last) const override {
        return std::any_of(ram.begin(), ram.end(), [&](const Range& r) { return overlap(r, {first, last}); });
    }
    void set_irq_level(bool asserted) override {
        irq = asserted;
        irq_changes.push_back(asserted);
    }
    void send_msi(uint64_t address, uint32_t data) override { msis.push_back({address, data}); }
    // Xen's rule when set: a message with vector 0 is a pirq, masked elsewhere.
    bool xen_pirqs = false;
    bool msi_masked_elsewhere(uint64_t, uint32_t data) const override { return xen_pirqs && (data & 0xff) == 0; }
};

inline constexpr uint64_t kVersion1 = uint64_t{1} << 32;
inline constexpr uint64_t kEventIdx = uint64_t{1} << 29;

class RecordingDevice : public VirtioDevice {
public:
    uint32_t id = 2;  // block
    uint64_t features = kVersion1 | kEventIdx | 1;
    uint16_t queues = 2;
    uint16_t max_size = 256;
    std::vector<uint8_t> config_bytes = std::vector<uint8_t>{0x00, 0x10, 0, 0, 0, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd};
    uint32_t generation = 7;
    Result<> features_answer{};
    Result<> start_answer{};

    std::vector<uint64_t> features_set;
    std::vector<std::vector<QueueConfig>> started;
    std::vector<uint16_t> notified;
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> config_writes;
    int resets = 0;

    uint32_t device_id() const override { return id; }
    uint64_t device_features() const override { return features; }
    uint16_t num_queues() const override { return queues; }
    uint16_t queue_max_size() const override { return max_size; }
    std::span<const uint8_t> config() const override { return config_bytes; }
    uint32_t config_generation() const override { return generation; }
    void write_config(uint32_t offset, std::span<const uint8_t> data) override {
        config_writes.emplace_back(offset, std::vector<uint8_t>(data.begin(), data.end()));
    }
    Result<> set_features(uint64_t f) override {
        features_set.push_back(f);
        return features_answer;
    }
    Result<> start(std::span<const QueueConfig> q) override {
        started.emplace_back(q.begin(), q.end());
        return start_answer;
    }
    void notify(uint16_t index) override { notified.push_back(index); }
    void reset() override { ++resets; }
};

}  // namespace xenvhost::transport::test
