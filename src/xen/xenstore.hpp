#pragma once
// Thin RAII wrapper over a libxenstore handle: read/write/rm/mkdir/directory,
// permissions, watches and domain queries. No policy lives here.

#include "base/error.hpp"

// The Xen 4.17 headers lack extern "C" guards.
extern "C" {
#include <xenstore.h>
}

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace xenvhost::xen {

struct WatchEvent {
    std::string path;
    std::string token;
};

class Xenstore {
public:
    // Connects as libxenstore does ($XENSTORED_PATH, then the default socket/device).
    static Result<Xenstore> open();

    xs_handle* raw() const { return handle_.get(); }

    // nullopt when the node does not exist.
    Result<std::optional<std::string>> read(const std::string& path, xs_transaction_t t = XBT_NULL) const;
    Result<> write(const std::string& path, std::string_view value, xs_transaction_t t = XBT_NULL) const;
    Result<> mkdir(const std::string& path, xs_transaction_t t = XBT_NULL) const;
    // Recursive; removing a node that does not exist succeeds.
    Result<> remove(const std::string& path, xs_transaction_t t = XBT_NULL) const;
    // nullopt when the node does not exist.
    Result<std::optional<std::vector<std::string>>> directory(const std::string& path,
                                                              xs_transaction_t t = XBT_NULL) const;
    Result<std::vector<xs_permissions>> get_permissions(const std::string& path,
                                                        xs_transaction_t t = XBT_NULL) const;
    Result<> set_permissions(const std::string& path, std::span<const xs_permissions> perms,
                             xs_transaction_t t = XBT_NULL) const;

    Result<> watch(const std::string& path, const std::string& token) const;
    Result<> unwatch(const std::string& path, const std::string& token) const;
    // Readable while watch events are queued.
    Result<int> watch_fd() const;
    // Next queued event without blocking; nullopt when none is queued.
    std::optional<WatchEvent> next_event() const;

    Result<bool> is_domain_introduced(unsigned domid) const;
    Result<> introduce_domain(unsigned domid, unsigned long mfn, unsigned port) const;
    Result<> release_domain(unsigned domid) const;

private:
    struct Closer {
        void operator()(xs_handle* h) const { xs_close(h); }
    };
    explicit Xenstore(xs_handle* h) : handle_(h) {}
    std::unique_ptr<xs_handle, Closer> handle_;
};

// "n0", "r5", "w5", "b5" (the xenstore-chmod / wire notation).
Result<xs_permissions> parse_permission(std::string_view text);
std::string format_permission(const xs_permissions& perm);

}  // namespace xenvhost::xen
