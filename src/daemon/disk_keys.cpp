#include "daemon/disk_keys.hpp"

#include "daemon/backend_path.hpp"

namespace xenvhost::daemon {
namespace {

constexpr std::string_view kBlanks = " \t";
constexpr unsigned kLargestDevid = (1u << 28) - 1;  // xvd's extended scheme, the largest libxl makes

std::string_view trim(std::string_view s) {
    const size_t first = s.find_first_not_of(kBlanks);
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(kBlanks) - first + 1);
}

Result<> parse_key(DiskKeys& k, std::string_view item) {
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return fail("'{}' is not KEY=VALUE", item);
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "grant_usage") {
        if (value != "0" && value != "1") return fail("grant_usage '{}' is not 0 or 1", value);
        k.grant_usage = value == "1";
        return {};
    }
    if (key != "base" && key != "irq") return fail("unknown key '{}' (grant_usage, base, irq)", key);
    auto n = parse_number(value);
    if (!n) return fail("{} {}", key, n.error().message);
    if (*n == 0) return fail("{} 0 is no {}", key, key == "base" ? "virtio-mmio window" : "interrupt");
    (key == "base" ? k.base : k.irq) = *n;
    return {};
}

}  // namespace

Result<DiskKeys> parse_disk_keys(std::string_view text) {
    const std::string_view value = trim(text);
    const size_t blank = value.find_first_of(kBlanks);
    const std::string_view devid = value.substr(0, blank);
    std::string_view keys = blank == std::string_view::npos ? std::string_view{} : trim(value.substr(blank));
    if (devid.empty() || keys.empty() || keys.find_first_of(kBlanks) != std::string_view::npos)
        return fail("{} '{}' is not 'DEVID KEY=VALUE[,KEY=VALUE...]'", kDiskKeysKey, value);
    DiskKeys k;
    auto id = parse_id(devid, kLargestDevid);
    if (!id) return fail("{} '{}': devid {}", kDiskKeysKey, value, id.error().message);
    k.devid = *id;
    while (!keys.empty()) {
        const size_t comma = keys.find(',');
        if (auto ok = parse_key(k, keys.substr(0, comma)); !ok)
            return fail("{} '{}': {}", kDiskKeysKey, value, ok.error().message);
        keys = comma == std::string_view::npos ? std::string_view{} : keys.substr(comma + 1);
    }
    if ((k.base == 0) != (k.irq == 0)) return fail("{} '{}': base and irq go together", kDiskKeysKey, value);
    return k;
}

Result<DiskKeysList> parse_disk_keys_list(const std::vector<std::string>& values) {
    DiskKeysList out;
    for (const auto& v : values) {
        auto k = parse_disk_keys(v);
        if (!k) return std::unexpected(k.error());
        for (const auto& seen : out)
            if (seen.devid == k->devid) return fail("{}: devid {} is configured twice", kDiskKeysKey, k->devid);
        out.push_back(*k);
    }
    return out;
}

void apply_disk_keys(DeviceEntry& entry, const DiskKeysList& list) {
    if (entry.key.kind != DeviceKind::kVirtioDisk) return;
    for (const auto& k : list) {
        if (k.devid != entry.key.devid) continue;
        if (!entry.grant_usage && k.grant_usage) entry.grant_usage = k.grant_usage;
        if (entry.base == 0 && entry.irq == 0 && k.base != 0) {
            entry.base = k.base;
            entry.irq = k.irq;
        }
    }
}

}  // namespace xenvhost::daemon
