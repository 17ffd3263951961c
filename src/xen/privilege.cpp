#include "xen/privilege.hpp"

#include <fmt/format.h>

#include <cerrno>

namespace xenvhost::xen {

DmAccess classify_dm_probe(const DmProbe& p) {
    if (p.open_err) return DmAccess::kUnknown;
    // Restricted by the kernel to another domain (XSA-482's fix in a domU).
    if (p.restrict_err == EINVAL) return DmAccess::kKernelRestricted;
    if (p.restrict_err) return DmAccess::kUnknown;
    switch (p.dmop_err) {
        case 0: return DmAccess::kAllowed;
        case EPERM:
        case EACCES: return DmAccess::kRefused;
        case EINVAL:
        case EOPNOTSUPP: return DmAccess::kNotHvm;
        default: return DmAccess::kUnknown;
    }
}

std::string_view dm_access_name(DmAccess access) {
    switch (access) {
        case DmAccess::kAllowed: return "allowed";
        case DmAccess::kRefused: return "refused";
        case DmAccess::kNotHvm: return "not-hvm";
        case DmAccess::kKernelRestricted: return "kernel-restricted";
        case DmAccess::kUnknown: return "unknown";
    }
    return "?";
}

std::string device_model_refused(unsigned backend_domid, unsigned guest_domid) {
    return fmt::format(
        "{}domain {} may not be the device model of HVM guest {} (Xen answers its DMOPs with EPERM); "
        "under Xen's default XSM policy only dom0 may. Allow domain {} dm_op on the guest with an "
        "XSM/FLASK policy, or serve the disk from dom0 (no backend= in its config)",
        kRefusedMarker, backend_domid, guest_domid, backend_domid);
}

std::string foreign_map_refused(unsigned guest_domid) {
    return fmt::format(
        "{}this domain may not map guest {}'s memory by foreign mapping (Xen: EPERM); under Xen's "
        "default XSM policy only dom0 may. Have the front-end grant the memory to this domain, allow "
        "the mapping with an XSM/FLASK policy, or serve the disk from dom0 (no backend= in its config)",
        kRefusedMarker, guest_domid);
}

std::string privcmd_restricted(unsigned guest_domid) {
    return fmt::format(
        "{}this domain's kernel restricts /dev/xen/privcmd to its xenstore target, so guest {}'s memory "
        "cannot be foreign-mapped. Have the front-end grant the memory to this domain, or load xen-privcmd "
        "with unrestricted=1 and allow the mapping with an XSM/FLASK policy, or serve the disk from dom0",
        kRefusedMarker, guest_domid);
}

std::string_view refusal_in(std::string_view message) {
    auto at = message.find(kRefusedMarker);
    return at == std::string_view::npos ? std::string_view{} : message.substr(at);
}

}  // namespace xenvhost::xen
