#pragma once
// What Xen refuses a back-end domain that is not dom0 (a driver domain),
// and what the operator can change. Under Xen's default XSM policy (dummy),
// device-model operations (DMOPs: an ioreq server, interrupt injection) and
// foreign mappings of a guest's frames need the control domain, or a domain
// whose target is the guest (a stub domain); an XSM/FLASK policy can allow
// them to a driver domain. Grant mappings need nothing: the guest grants
// its pages to the back-end's domain. The messages below become a device's
// xenvhost-error key; they start with kRefusedMarker wherever they are
// embedded in a longer error, so the daemon can pick them out.

#include <string>
#include <string_view>

namespace xenvhost::xen {

inline constexpr std::string_view kRefusedMarker = "privilege refused: ";

// What xenvhostd learnt by asking about a guest through privcmd: whether a
// privcmd handle could be restricted to the guest (Linux's privcmd in a domU
// is restricted to the domain's xenstore `target` since the fix for
// XSA-482, unless loaded with unrestricted=1: restricting it to another
// domain then fails with EINVAL and nothing reaches Xen), then what a DMOP
// that changes nothing answered (xendevicemodel_nr_vcpus). Xen's x86 dm_op
// checks the guest is HVM (EINVAL) before the caller's privilege (EPERM), so
// the answer also tells the guest's type where the toolstack's
// /libxl/<domid>/type is not readable (a driver domain).
struct DmProbe {
    int open_err = 0;      // errno of opening privcmd, 0 if it opened
    int restrict_err = 0;  // errno of restricting a fresh privcmd handle to the guest
    int dmop_err = 0;      // errno of the DMOP, 0 if it succeeded
};
enum class DmAccess {
    kAllowed,           // an HVM guest this domain may serve a device model for
    kRefused,           // an HVM guest, but Xen refuses this domain DMOPs on it (EPERM)
    kNotHvm,            // a PV (or PVH) guest: no device model applies (EINVAL)
    kKernelRestricted,  // this domain's own kernel keeps privcmd from the guest: Xen was not asked
    kUnknown,           // anything else (the domain is gone, no privcmd): nothing can be said
};
DmAccess classify_dm_probe(const DmProbe& probe);
std::string_view dm_access_name(DmAccess access);

// The error key of an HVM guest's device that a driver domain cannot serve.
std::string device_model_refused(unsigned backend_domid, unsigned guest_domid);
// A foreign mapping of the guest's frames that Xen refused with EPERM.
std::string foreign_map_refused(unsigned guest_domid);
// Foreign mappings of the guest that this domain's kernel does not let
// through (privcmd restricted to another domain).
std::string privcmd_restricted(unsigned guest_domid);
// xenvhost-transport of a device whose guest's type neither the toolstack
// nor Xen would tell, because this domain's kernel restricts privcmd.
inline constexpr const char* kNoTransportRestricted =
    "none: the guest's type is not readable here and Xen cannot be asked (this domain's privcmd is "
    "restricted to its xenstore target): an HVM guest would get no device model; load xen-privcmd "
    "with unrestricted=1 to ask Xen";
// The refusal inside MESSAGE (from the marker to its end), or empty.
std::string_view refusal_in(std::string_view message);

}  // namespace xenvhost::xen
