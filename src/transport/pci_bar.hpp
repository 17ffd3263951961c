#pragma once
// The function's 64-bit memory BAR as the guest programs it: sizing (the
// size mask reads back in both halves whatever was written), placement
// (each write may move it) and decoding. While memory decoding is on and
// the BAR holds an address, its range is claimed from the platform; the
// old range is released when it moves or decoding stops. A range on RAM or
// one the platform refuses is not decoded (logged once per range).

#include "transport/guest_log.hpp"
#include "transport/platform.hpp"

#include <cstdint>
#include <optional>

namespace xenvhost::transport::pci {

class PciBar {
public:
    PciBar(Platform& platform, GuestLog& log, uint64_t size);
    ~PciBar();
    PciBar(const PciBar&) = delete;
    PciBar& operator=(const PciBar&) = delete;

    uint32_t read_low() const;
    uint32_t read_high() const;
    // Writes the bytes `byte_mask` selects; placement follows with update().
    void write_low(uint32_t value, uint8_t byte_mask);
    void write_high(uint32_t value, uint8_t byte_mask);
    // Claims or releases to match the BAR and the command register.
    void update(bool memory_decoding);

    // The offset in the BAR of an access at guest address `addr`, when the
    // BAR decodes all of [addr, addr + size).
    std::optional<uint64_t> offset_of(uint64_t addr, unsigned size) const;
    std::optional<uint64_t> decoded_base() const;

private:
    struct Range {
        uint64_t first, last;
        bool operator==(const Range&) const = default;
    };
    std::optional<Range> wanted(bool memory_decoding) const;
    bool place(const Range& range);
    void release();

    Platform& platform_;
    GuestLog& log_;
    const uint64_t size_;
    uint64_t address_ = 0;  // only the bits above the size
    std::optional<Range> claimed_;
    std::optional<Range> last_refused_;
};

}  // namespace xenvhost::transport::pci
