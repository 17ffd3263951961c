#include "daemon/external_backend.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace xenvhost::daemon {
namespace {

constexpr std::string_view kBlanks = " \t";
constexpr unsigned kLargestDomid = 0x7fef;  // DOMID_FIRST_RESERVED - 1

std::string_view trim(std::string_view s) {
    const size_t first = s.find_first_not_of(kBlanks);
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(kBlanks) - first + 1);
}

// Only %d and %%: anything else is a mistake better caught at startup than
// a socket name nobody meant.
Result<> check_pattern(std::string_view socket) {
    if (socket.empty() || socket[0] != '/') return fail("the socket '{}' is not an absolute path", socket);
    // The device model's --device option separates its keys with commas.
    if (socket.find(',') != std::string_view::npos) return fail("the socket '{}' contains a comma", socket);
    for (size_t i = 0; i < socket.size(); ++i) {
        if (socket[i] != '%') continue;
        if (i + 1 == socket.size()) return fail("the socket '{}' ends with a lone %", socket);
        if (socket[i + 1] != 'd' && socket[i + 1] != '%')
            return fail("'%{}' in the socket '{}' is neither %d (the guest's domid) nor %%", socket[i + 1], socket);
        ++i;
    }
    return {};
}

}  // namespace

Result<uint32_t> parse_virtio_type(std::string_view type) {
    constexpr std::string_view prefix = "virtio,device";
    if (!type.starts_with(prefix)) return fail("type '{}' is not a virtio device type (virtio,device<N>)", type);
    const std::string_view digits = type.substr(prefix.size());
    uint64_t id = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id, 16);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size())
        return fail("type '{}' has no hexadecimal device number", type);
    if (id == 0 || id > 0xffff) return fail("type '{}': device number {:#x} is out of range (1..ffff)", type, id);
    return static_cast<uint32_t>(id);
}

Result<ExternalBackend> parse_external_backend(std::string_view text) {
    const std::string_view value = trim(text);
    const size_t blank = value.find_first_of(kBlanks);
    const std::string_view type = value.substr(0, blank);
    const std::string_view socket = blank == std::string_view::npos ? std::string_view{} : trim(value.substr(blank));
    if (type.empty() || socket.empty() || socket.find_first_of(kBlanks) != std::string_view::npos)
        return fail("{} '{}' is not 'virtio,device<N> SOCKET'", kExternalBackendKey, value);
    auto id = parse_virtio_type(type);
    if (!id) return fail("{} '{}': {}", kExternalBackendKey, value, id.error().message);
    if (auto ok = check_pattern(socket); !ok) return fail("{} '{}': {}", kExternalBackendKey, value, ok.error().message);
    ExternalBackend b{*id, std::string(type), std::string(socket)};
    const std::string longest = external_socket(b, kLargestDomid);
    if (longest.size() >= sizeof(sockaddr_un{}.sun_path))
        return fail("{} '{}': the socket {} is longer than a unix socket path may be ({} bytes)", kExternalBackendKey,
                    value, longest, sizeof(sockaddr_un{}.sun_path) - 1);
    return b;
}

Result<ExternalBackends> parse_external_backends(const std::vector<std::string>& values, std::string_view run_dir) {
    const std::string under = run_dir.ends_with('/') ? std::string(run_dir) : std::string(run_dir) + "/";
    ExternalBackends out;
    for (const auto& v : values) {
        auto b = parse_external_backend(v);
        if (!b) return std::unexpected(b.error());
        if (auto* seen = find_external_backend(out, b->virtio_id))
            return fail("{}: device {:#x} is configured twice ({} and {})", kExternalBackendKey, b->virtio_id,
                        seen->type, b->type);
        if (b->socket.starts_with(under))
            return fail("{} '{}': the socket is under the run directory {}, which xenvhostd removes with each guest",
                        kExternalBackendKey, trim(v), run_dir);
        out.push_back(std::move(*b));
    }
    return out;
}

const ExternalBackend* find_external_backend(const ExternalBackends& backends, uint32_t virtio_id) {
    for (const auto& b : backends)
        if (b.virtio_id == virtio_id) return &b;
    return nullptr;
}

std::string external_socket(const ExternalBackend& backend, unsigned domid) {
    std::string out;
    const std::string& p = backend.socket;
    for (size_t i = 0; i < p.size(); ++i) {
        if (p[i] == '%' && i + 1 < p.size()) {
            out += p[i + 1] == 'd' ? std::to_string(domid) : std::string(1, p[i + 1]);
            ++i;
        } else {
            out += p[i];
        }
    }
    return out;
}

Result<> check_external_socket(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) < 0) {
        if (errno == ENOENT) return fail("external back-end socket {} is not there: is its back-end running?", path);
        return fail_errno("external back-end socket {}", path);
    }
    if (!S_ISSOCK(st.st_mode)) return fail("external back-end socket {} is not a socket", path);
    return {};
}

}  // namespace xenvhost::daemon
