#include "frontend/region_devices.hpp"

#include "base/log.hpp"
#include "frontend/frontend_config.hpp"
#include "xen/device_fd.hpp"

#include <fcntl.h>
#include <linux/ioctl.h>
#include <sys/ioctl.h>

namespace xenvhost::vhost_frontend {
namespace {

// Linux's IOCTL_PRIVCMD_RESTRICT (xen/sys/privcmd.h): later hypercalls and
// mappings through this open file may only concern the domain.
constexpr unsigned long kPrivcmdRestrict = _IOC(_IOC_NONE, 'P', 6, sizeof(uint16_t));

}  // namespace

std::shared_ptr<const RegionDevices> RegionDevices::open(const std::string& privcmd_path,
                                                         const std::string& gntdev_path, uint32_t domid) {
    auto d = std::make_shared<RegionDevices>();
    auto open_one = [](Device& dev, const std::string& path) {
        dev.fd.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
        if (!dev.fd) dev.unavailable = fmt::format("open {}: {}", path, std::strerror(errno));
    };
    open_one(d->privcmd_, privcmd_path);
    open_one(d->gntdev_, gntdev_path);
    // A stand-in for privcmd (a test's /dev/zero) has nothing to restrict.
    if (d->privcmd_.fd && xen::check_device_fd(d->privcmd_.fd.get(), xen::XenDevice::kPrivcmd)) {
        uint16_t dom = static_cast<uint16_t>(domid);
        if (::ioctl(d->privcmd_.fd.get(), kPrivcmdRestrict, &dom) < 0) {
            if (errno != ENOTTY) {
                // Restricted to another domain already, or refused: never hand it on.
                d->privcmd_.unavailable = fmt::format("restrict {} to domain {}: {}", privcmd_path, domid,
                                                      std::strerror(errno));
                d->privcmd_.fd.reset();
            } else {
                // A kernel without the ioctl (before Linux 4.12), or the Xen double's stand-in.
                log::warn("{} cannot be restricted to domain {} (no IOCTL_PRIVCMD_RESTRICT): back-ends get it "
                          "unrestricted", privcmd_path, domid);
            }
        }
    }
    return d;
}

Result<UniqueFd> RegionDevices::duplicate(RegionKind kind) const {
    const Device& dev = kind == RegionKind::kForeign ? privcmd_ : gntdev_;
    if (!dev.fd) return fail("{}", dev.unavailable);
    UniqueFd copy(::fcntl(dev.fd.get(), F_DUPFD_CLOEXEC, 0));
    if (!copy) return fail_errno("dup the {} fd", kind == RegionKind::kForeign ? "privcmd" : "gntdev");
    return copy;
}

}  // namespace xenvhost::vhost_frontend
