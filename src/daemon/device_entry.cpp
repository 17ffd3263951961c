#include "daemon/device_entry.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace xenvhost::daemon {
namespace {

constexpr std::string_view kDiskKeys[] = {"frontend-id", "params",      "mode",          "type",
                                          "specification", "transport", "device-type",   "discard-enable",
                                          "grant_usage", "base",        "irq",           "dev"};
constexpr std::string_view kVirtioKeys[] = {"frontend-id", "type", "transport", "params",
                                            "mode",        "grant_usage", "base", "irq"};

const std::string* get(const KeyValues& v, std::string_view key) {
    auto it = v.find(key);
    return it == v.end() ? nullptr : &it->second;
}

Result<bool> flag(const KeyValues& v, std::string_view key, bool dflt) {
    auto* s = get(v, key);
    if (!s) return dflt;
    if (*s == "0") return false;
    if (*s == "1") return true;
    return fail("{} '{}' is not 0 or 1", key, *s);
}

Result<std::optional<bool>> optional_flag(const KeyValues& v, std::string_view key) {
    if (!get(v, key)) return std::optional<bool>();
    auto f = flag(v, key, false);
    if (!f) return std::unexpected(f.error());
    return std::optional<bool>(*f);
}

Result<uint64_t> number(const KeyValues& v, std::string_view key, uint64_t max) {
    auto* s = get(v, key);
    if (!s) return 0;
    auto n = parse_number(*s);
    if (!n) return fail("{} {}", key, n.error().message);
    if (*n > max) return fail("{} {} is out of range", key, *s);
    return *n;
}

Result<> expect(const KeyValues& v, std::string_view key, std::string_view wanted) {
    auto* s = get(v, key);
    if (s && *s != wanted) return fail("{} '{}' is not served (expected {})", key, *s, wanted);
    return {};
}

Result<bool> read_only_mode(const KeyValues& v, bool required) {
    auto* mode = get(v, "mode");
    if (!mode) {
        if (required) return fail("mode is missing (expected r or w)");
        return false;
    }
    if (*mode == "w") return false;
    if (*mode == "r") return true;
    return fail("mode '{}' is not r or w", *mode);
}

Result<std::string> image_path(const KeyValues& v, DeviceKind kind) {
    auto* params = get(v, "params");
    if (!params || params->empty()) {
        if (kind == DeviceKind::kVirtio)
            return fail("params (image path) is missing: a virtio,device2 device needs one written by the operator, "
                        "unless '{} = virtio,device2 SOCKET' is configured", kExternalBackendKey);
        return fail("params (image path) is missing or empty");
    }
    if ((*params)[0] != '/') return fail("params '{}' is not an absolute path", *params);
    return *params;
}

// Turns a chain of checks into one early return.
#define XV_TRY(var, expr)                                   \
    auto var = (expr);                                      \
    if (!var) return std::unexpected(var.error())

}  // namespace

std::span<const std::string_view> entry_keys(DeviceKind kind) {
    if (kind == DeviceKind::kVirtioDisk) return kDiskKeys;
    return kVirtioKeys;
}

Result<DeviceEntry> parse_entry(const DeviceKey& key, const KeyValues& v, const ExternalBackends& external) {
    DeviceEntry e;
    e.key = key;
    if (auto* fid = get(v, "frontend-id")) {
        auto id = parse_id(*fid, 0x7fef);
        if (!id) return fail("frontend-id {}", id.error().message);
        if (*id != key.domid)
            return fail("frontend-id {} does not match the guest domid {} of the directory", *id, key.domid);
    }
    XV_TRY(transport, expect(v, "transport", "mmio"));
    XV_TRY(grant, optional_flag(v, "grant_usage"));
    e.grant_usage = *grant;
    XV_TRY(base, number(v, "base", UINT64_MAX));
    e.base = *base;
    XV_TRY(irq, number(v, "irq", UINT32_MAX));
    e.irq = *irq;

    if (key.kind == DeviceKind::kVirtioDisk) {
        XV_TRY(type, expect(v, "type", "standalone"));
        XV_TRY(spec, expect(v, "specification", "virtio"));
        XV_TRY(image, image_path(v, key.kind));
        e.image = std::move(*image);
        XV_TRY(ro, read_only_mode(v, true));
        e.read_only = *ro;
        if (auto* dt = get(v, "device-type")) {
            if (*dt == "cdrom") e.cdrom = true;
            else if (*dt != "disk") return fail("device-type '{}' is not disk or cdrom", *dt);
        }
        if (e.cdrom) e.read_only = true;
        XV_TRY(discard, flag(v, "discard-enable", !e.read_only));
        e.discard = *discard && !e.read_only;
        if (auto* dev = get(v, "dev")) e.serial = dev->substr(0, 20);
        return e;
    }

    auto* type = get(v, "type");
    if (!type) return fail("type is missing (expected virtio,device<N>)");
    XV_TRY(id, parse_virtio_type(*type));
    e.virtio_id = *id;
    if (auto* backend = find_external_backend(external, *id)) {
        // Its back-end is the operator's: no image, nothing for the worker.
        e.external_socket = external_socket(*backend, key.domid);
        return e;
    }
    if (*id != 2)
        return fail("type '{}' is not served: xenvhost-worker serves only virtio,device2 (block), and no "
                    "'{} = {} SOCKET' is configured",
                    *type, kExternalBackendKey, *type);
    XV_TRY(image, image_path(v, key.kind));
    e.image = std::move(*image);
    XV_TRY(ro, read_only_mode(v, false));
    e.read_only = *ro;
    e.discard = !e.read_only;
    return e;
}

Result<> check_image(const DeviceEntry& entry) {
    if (!entry.external_socket.empty()) return {};
    struct stat st{};
    if (::stat(entry.image.c_str(), &st) < 0) return fail_errno("image {}", entry.image);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return fail("image {} is not a regular file or block device", entry.image);
    int fd = ::open(entry.image.c_str(), (entry.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return fail_errno("image {} cannot be opened {}", entry.image, entry.read_only ? "read-only" : "read-write");
    ::close(fd);
    return {};
}

}  // namespace xenvhost::daemon
