#pragma once
// Reads every virtio device of the chosen back-end domains over one
// xenstore connection, in one read-only transaction (a consistent snapshot;
// the shell version started about 13 processes per device).

#include "base/error.hpp"
#include "status/device_row.hpp"
#include "xen/xenstore.hpp"

#include <optional>
#include <string>
#include <vector>

namespace xenvhost::status {

struct Selection {
    std::optional<unsigned> backend;  // only this back-end domain
    std::vector<std::string> guests;  // domids or names; empty: every guest
};

// The back-end kinds xenvhostd serves.
inline constexpr const char* kKinds[] = {"virtio_disk", "virtio"};

class StatusReader {
public:
    explicit StatusReader(const xen::Xenstore& xs) : xs_(xs) {}

    // Fails (kPeerGone or kPolicy) when xenstore cannot be read at all.
    Result<std::vector<DeviceRow>> read(const Selection& selection) const;
    // The back-end domains to look at: the chosen one, else every domain
    // under /local/domain, else (a driver domain that cannot list it) this
    // domain alone.
    Result<std::vector<unsigned>> backends(const Selection& selection, xs_transaction_t t) const;

private:
    Result<std::string> value(const std::string& path, xs_transaction_t t) const;
    Result<std::vector<std::string>> list(const std::string& path, xs_transaction_t t) const;
    Result<> read_backend(unsigned backend, const Selection& selection, xs_transaction_t t,
                          std::vector<DeviceRow>& rows) const;

    const xen::Xenstore& xs_;
};

// Whether guest (domid, name) is one the selection asks for.
bool selected(const Selection& selection, unsigned domid, const std::string& name);

}  // namespace xenvhost::status
