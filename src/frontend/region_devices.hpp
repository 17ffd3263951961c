#pragma once
// The privcmd and gntdev devices a front-end sends with its XEN_MMAP memory
// regions, opened once when the device model starts (before it drops its
// privileges and can open nothing) and duplicated for every memory table.
// The privcmd one is restricted to the guest first, so a back-end that is
// handed it cannot use it for any other domain (a stand-in that is not the
// privcmd device, as tests use, is left as it is). A device that cannot be
// opened is remembered with the reason, which a memory table needing it
// reports.

#include "base/error.hpp"
#include "base/unique_fd.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace xenvhost::vhost_frontend {

enum class RegionKind;

class RegionDevices {
public:
    static std::shared_ptr<const RegionDevices> open(const std::string& privcmd_path, const std::string& gntdev_path,
                                                     uint32_t domid);
    // A new fd (close-on-exec) for one region of this kind.
    Result<UniqueFd> duplicate(RegionKind kind) const;

private:
    struct Device {
        UniqueFd fd;
        std::string unavailable;  // why fd is not open
    };
    Device privcmd_, gntdev_;
};

}  // namespace xenvhost::vhost_frontend
