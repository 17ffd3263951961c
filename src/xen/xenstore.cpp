#include "xen/xenstore.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>

namespace xenvhost::xen {
namespace {
struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};

// A failed request: these errnos mean the handle is dead (libxenstore closed
// it, xenstored went away), which the daemon must handle as such.
template <typename... Args>
std::unexpected<Error> request_failed(fmt::format_string<Args...> f, Args&&... args) {
    const int e = errno;
    const bool gone = e == EIO || e == ECONNRESET || e == EPIPE || e == EBADF || e == ENOTCONN;
    return fail_errno_as(gone ? ErrorKind::kPeerGone : ErrorKind::kInternal, f, std::forward<Args>(args)...);
}
}  // namespace

Result<Xenstore> Xenstore::open() {
    xs_handle* h = xs_open(0);
    if (!h) return request_failed("cannot connect to xenstored");
    return Xenstore(h);
}

Result<std::optional<std::string>> Xenstore::read(const std::string& path, xs_transaction_t t) const {
    unsigned len = 0;
    std::unique_ptr<void, FreeDeleter> data(xs_read(raw(), t, path.c_str(), &len));
    if (!data) {
        if (errno == ENOENT) return std::optional<std::string>();
        return request_failed("xenstore read {}", path);
    }
    return std::optional<std::string>(std::string(static_cast<const char*>(data.get()), len));
}

Result<> Xenstore::write(const std::string& path, std::string_view value, xs_transaction_t t) const {
    if (!xs_write(raw(), t, path.c_str(), value.data(), static_cast<unsigned>(value.size())))
        return request_failed("xenstore write {}", path);
    return {};
}

Result<> Xenstore::mkdir(const std::string& path, xs_transaction_t t) const {
    if (!xs_mkdir(raw(), t, path.c_str())) return request_failed("xenstore mkdir {}", path);
    return {};
}

Result<> Xenstore::remove(const std::string& path, xs_transaction_t t) const {
    if (!xs_rm(raw(), t, path.c_str()) && errno != ENOENT) return request_failed("xenstore rm {}", path);
    return {};
}

Result<std::optional<std::vector<std::string>>> Xenstore::directory(const std::string& path,
                                                                     xs_transaction_t t) const {
    unsigned num = 0;
    std::unique_ptr<char*, FreeDeleter> list(xs_directory(raw(), t, path.c_str(), &num));
    if (!list) {
        if (errno == ENOENT) return std::optional<std::vector<std::string>>();
        return request_failed("xenstore directory {}", path);
    }
    std::vector<std::string> names(list.get(), list.get() + num);
    return std::optional(std::move(names));
}

Result<std::vector<xs_permissions>> Xenstore::get_permissions(const std::string& path,
                                                              xs_transaction_t t) const {
    unsigned num = 0;
    std::unique_ptr<xs_permissions, FreeDeleter> perms(xs_get_permissions(raw(), t, path.c_str(), &num));
    if (!perms) return request_failed("xenstore get-perms {}", path);
    return std::vector<xs_permissions>(perms.get(), perms.get() + num);
}

Result<> Xenstore::set_permissions(const std::string& path, std::span<const xs_permissions> perms,
                                   xs_transaction_t t) const {
    std::vector<xs_permissions> copy(perms.begin(), perms.end());  // the C API takes non-const
    if (!xs_set_permissions(raw(), t, path.c_str(), copy.data(), static_cast<unsigned>(copy.size())))
        return request_failed("xenstore set-perms {}", path);
    return {};
}

Result<> Xenstore::watch(const std::string& path, const std::string& token) const {
    if (!xs_watch(raw(), path.c_str(), token.c_str())) return request_failed("xenstore watch {}", path);
    return {};
}

Result<> Xenstore::unwatch(const std::string& path, const std::string& token) const {
    if (!xs_unwatch(raw(), path.c_str(), token.c_str())) return request_failed("xenstore unwatch {}", path);
    return {};
}

Result<int> Xenstore::watch_fd() const {
    int fd = xs_fileno(raw());
    if (fd < 0) return request_failed("xs_fileno");
    return fd;
}

std::optional<WatchEvent> Xenstore::next_event() const {
    std::unique_ptr<char*, FreeDeleter> ev(xs_check_watch(raw()));
    if (!ev) return std::nullopt;
    return WatchEvent{ev.get()[XS_WATCH_PATH], ev.get()[XS_WATCH_TOKEN]};
}

Result<bool> Xenstore::is_domain_introduced(unsigned domid) const {
    errno = 0;
    bool yes = xs_is_domain_introduced(raw(), domid);
    // false with errno set is a failed request rather than an answer.
    if (!yes && errno != 0 && errno != ENOENT) return request_failed("xenstore is-domain-introduced {}", domid);
    return yes;
}

Result<> Xenstore::introduce_domain(unsigned domid, unsigned long mfn, unsigned port) const {
    if (!xs_introduce_domain(raw(), domid, mfn, port)) return request_failed("xenstore introduce {}", domid);
    return {};
}

Result<> Xenstore::release_domain(unsigned domid) const {
    if (!xs_release_domain(raw(), domid)) return request_failed("xenstore release {}", domid);
    return {};
}

Result<xs_permissions> parse_permission(std::string_view text) {
    if (text.size() < 2) return fail("bad xenstore permission '{}'", text);
    xs_permissions p{};
    switch (text[0]) {
        case 'n': p.perms = XS_PERM_NONE; break;
        case 'r': p.perms = XS_PERM_READ; break;
        case 'w': p.perms = XS_PERM_WRITE; break;
        case 'b': p.perms = XS_PERM_READ | XS_PERM_WRITE; break;
        default: return fail("bad xenstore permission '{}'", text);
    }
    auto digits = text.substr(1);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p.id);
    if (ec != std::errc() || ptr != digits.data() + digits.size())
        return fail("bad xenstore permission '{}'", text);
    return p;
}

std::string format_permission(const xs_permissions& perm) {
    char c = 'n';
    unsigned rw = perm.perms & (XS_PERM_READ | XS_PERM_WRITE);
    if (rw == XS_PERM_READ) c = 'r';
    else if (rw == XS_PERM_WRITE) c = 'w';
    else if (rw == (XS_PERM_READ | XS_PERM_WRITE)) c = 'b';
    return fmt::format("{}{}", c, perm.id);
}

}  // namespace xenvhost::xen
