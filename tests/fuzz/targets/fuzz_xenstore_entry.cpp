// fuzz_xenstore_entry: xenvhostd's parser of the device directories libxl
// writes (daemon::parse_entry), with the number and id parsers it relies on
// (daemon::parse_number, daemon::parse_id) and the watch-path classifier
// (daemon::classify_path). Keys are mostly the ones libxl writes, with
// fuzzed values; some are arbitrary.
// Oracles: an accepted entry says exactly what its keys say (image, mode,
// cdrom, discard, serial, base, irq, grant_usage, frontend-id), per the
// rules in daemon/device_entry.hpp and xenstore/; a generic device of a type
// with an external back-end (virtio,device22 always, virtio,device2 for odd
// devids) gets that back-end's socket for its guest and no image; the number parsers agree
// with a reference reading of their contracts; a device path classifies back
// to its device. Layout: common/formats.hpp.

#include "common/bytes.hpp"
#include "common/check.hpp"
#include "common/formats.hpp"
#include "daemon/backend_path.hpp"
#include "daemon/device_entry.hpp"

#include <optional>

using namespace xenvhost;
using namespace xenvhost::daemon;
using namespace xenvhost::fuzz;

namespace {

int digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 99;
}

std::optional<uint64_t> digits_value(std::string_view d, unsigned base) {
    if (d.empty()) return std::nullopt;
    unsigned __int128 v = 0;
    for (char c : d) {
        const int x = digit(c);
        if (x >= static_cast<int>(base)) return std::nullopt;
        v = v * base + static_cast<unsigned>(x);
        if (v > UINT64_MAX) return std::nullopt;
    }
    return static_cast<uint64_t>(v);
}

// "0x..." hex, "0..." octal, else decimal; nothing else in the text.
std::optional<uint64_t> ref_number(std::string_view t) {
    if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) return digits_value(t.substr(2), 16);
    if (t.size() > 1 && t[0] == '0') return digits_value(t.substr(1), 8);
    return digits_value(t, 10);
}

// Decimal digits, no leading zero, at most `max`.
std::optional<unsigned> ref_id(std::string_view t, unsigned max) {
    if (t.size() > 1 && t[0] == '0') return std::nullopt;
    auto v = digits_value(t, 10);
    if (!v || *v > max) return std::nullopt;
    return static_cast<unsigned>(*v);
}

void check_numbers(const std::string& s) {
    auto n = parse_number(s);
    auto rn = ref_number(s);
    FUZZ_CHECK(n.has_value() == rn.has_value() && (!n || *n == *rn), "parse_number('{}')", s);
    auto id = parse_id(s, 0x7fef);
    auto rid = ref_id(s, 0x7fef);
    FUZZ_CHECK(id.has_value() == rid.has_value() && (!id || *id == *rid), "parse_id('{}')", s);
}

const std::string* get(const KeyValues& v, std::string_view key) {
    auto it = v.find(key);
    return it == v.end() ? nullptr : &it->second;
}

bool is_flag(const std::string* s) { return !s || *s == "0" || *s == "1"; }

// The device number of a generic type as libxl writes it, else nullopt.
std::optional<uint64_t> type_id(const std::string* type) {
    constexpr std::string_view prefix = "virtio,device";
    if (!type || !type->starts_with(prefix)) return std::nullopt;
    return digits_value(std::string_view(*type).substr(prefix.size()), 16);
}

const ExternalBackends& external_backends(bool with_block) {
    static const ExternalBackends i2c = *parse_external_backends({"virtio,device22 /run/i2c/dom%d.sock"}, "/run/x");
    static const ExternalBackends both =
        *parse_external_backends({"virtio,device22 /run/i2c/dom%d.sock", "virtio,device2 /srv/%%blk-%d"}, "/run/x");
    return with_block ? both : i2c;
}

void check_entry(const DeviceKey& key, const KeyValues& v, const DeviceEntry& e) {
    FUZZ_CHECK(e.key == key, "entry of another key");
    const std::string* params = get(v, "params");
    const auto id = key.kind == DeviceKind::kVirtio ? type_id(get(v, "type")) : std::optional<uint64_t>(2);
    const bool external = key.kind == DeviceKind::kVirtio && (id == 0x22u || (id == 2u && (key.devid & 1)));
    FUZZ_CHECK(id && e.virtio_id == *id, "virtio id {} accepted", e.virtio_id);
    if (external) {
        const std::string want =
            id == 2u ? fmt::format("/srv/%blk-{}", key.domid) : fmt::format("/run/i2c/dom{}.sock", key.domid);
        FUZZ_CHECK(e.external_socket == want && e.image.empty(), "external socket '{}'", e.external_socket);
    } else {
        FUZZ_CHECK(e.external_socket.empty(), "external socket '{}' for a worker's device", e.external_socket);
        FUZZ_CHECK(params && !params->empty() && (*params)[0] == '/' && e.image == *params, "image '{}' from params",
                   e.image);
    }
    if (auto* fid = get(v, "frontend-id")) FUZZ_CHECK(ref_id(*fid, 0x7fef) == key.domid, "frontend-id '{}' accepted", *fid);
    if (auto* t = get(v, "transport")) FUZZ_CHECK(*t == "mmio", "transport '{}' accepted", *t);
    const std::string* grant = get(v, "grant_usage");
    FUZZ_CHECK(is_flag(grant), "grant_usage '{}' accepted", *grant);
    FUZZ_CHECK(e.grant_usage == (grant ? std::optional<bool>(*grant == "1") : std::nullopt), "grant_usage mismatch");
    const std::string* base = get(v, "base");
    FUZZ_CHECK(e.base == (base ? ref_number(*base).value_or(~uint64_t{0}) : 0), "base {:#x} from '{}'", e.base,
               base ? *base : "");
    const std::string* irq = get(v, "irq");
    const auto irq_ref = irq ? ref_number(*irq) : std::optional<uint64_t>(0);
    FUZZ_CHECK(irq_ref && *irq_ref <= UINT32_MAX && e.irq == *irq_ref, "irq {} from '{}'", e.irq, irq ? *irq : "");
    const std::string* mode = get(v, "mode");
    if (key.kind == DeviceKind::kVirtioDisk) {
        if (auto* t = get(v, "type")) FUZZ_CHECK(*t == "standalone", "disk type '{}' accepted", *t);
        if (auto* s = get(v, "specification")) FUZZ_CHECK(*s == "virtio", "specification '{}' accepted", *s);
        FUZZ_CHECK(mode && (*mode == "r" || *mode == "w"), "disk mode '{}' accepted", mode ? *mode : "(none)");
        const std::string* dt = get(v, "device-type");
        FUZZ_CHECK(!dt || *dt == "disk" || *dt == "cdrom", "device-type '{}' accepted", *dt);
        FUZZ_CHECK(e.cdrom == (dt && *dt == "cdrom"), "cdrom flag");
        FUZZ_CHECK(e.read_only == (*mode == "r" || e.cdrom), "read-only flag");
        const std::string* discard = get(v, "discard-enable");
        FUZZ_CHECK(is_flag(discard), "discard-enable '{}' accepted", *discard);
        const bool want_discard = (discard ? *discard == "1" : !e.read_only) && !e.read_only;
        FUZZ_CHECK(e.discard == want_discard, "discard flag");
        const std::string* dev = get(v, "dev");
        FUZZ_CHECK(e.serial == (dev ? dev->substr(0, 20) : std::string()), "serial '{}'", e.serial);
    } else if (!external) {
        FUZZ_CHECK(id == 2u, "virtio type '{}' accepted", get(v, "type") ? *get(v, "type") : "(none)");
        FUZZ_CHECK(!mode || *mode == "r" || *mode == "w", "mode '{}' accepted", *mode);
        FUZZ_CHECK(e.read_only == (mode && *mode == "r") && e.discard == !e.read_only, "read-only/discard flags");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ByteReader in(data, size);
    DeviceKey key{(in.u8() & 1) ? DeviceKind::kVirtio : DeviceKind::kVirtioDisk, in.u16(), in.u16()};
    const auto known = entry_keys(key.kind);
    FUZZ_CHECK(!known.empty(), "no keys for kind {}", kind_name(key.kind));
    KeyValues values;
    while (!in.empty()) {
        const uint8_t sel = in.u8();
        std::string k = sel < kEntryCustomKey ? std::string(known[sel % known.size()]) : in.str8();
        std::string v = in.str8();
        check_numbers(v);
        values[std::move(k)] = std::move(v);
    }
    auto e = parse_entry(key, values, external_backends(key.devid & 1));
    if (e)
        check_entry(key, values, *e);
    else
        FUZZ_CHECK(!e.error().message.empty(), "refusal without a reason");

    // The daemon's watch paths: a device directory classifies back to its device.
    const unsigned self = key.devid % 3;
    for (const auto& [k, v] : values) {
        const std::string path = device_dir(self, key) + "/" + k;
        auto ref = classify_path(self, path);
        FUZZ_CHECK(ref && ref->kind == key.kind && ref->domid == std::to_string(key.domid) &&
                       ref->devid == std::to_string(key.devid),
                   "{} classified wrongly", path);
        (void)classify_path(self, v);
    }
    return 0;
}
