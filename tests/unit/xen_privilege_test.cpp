// What Xen refuses a driver domain: the DMOP probe's answers, and the
// refusal messages that become a device's xenvhost-error key.

#include "xen/privilege.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace xenvhost::xen {
namespace {

DmAccess dmop(int err) { return classify_dm_probe(DmProbe{0, 0, err}); }

TEST(XenPrivilege, DmProbeAnswersTellTypeAndPrivilege) {
    EXPECT_EQ(dmop(0), DmAccess::kAllowed);
    // Xen's x86 dm_op checks the guest is HVM (EINVAL) before the caller's privilege (EPERM).
    EXPECT_EQ(dmop(EPERM), DmAccess::kRefused);
    EXPECT_EQ(dmop(EACCES), DmAccess::kRefused);
    EXPECT_EQ(dmop(EINVAL), DmAccess::kNotHvm);
    EXPECT_EQ(dmop(EOPNOTSUPP), DmAccess::kNotHvm);
    // The guest gone: nothing can be said.
    EXPECT_EQ(dmop(ESRCH), DmAccess::kUnknown);
    EXPECT_EQ(dm_access_name(DmAccess::kRefused), "refused");
}

TEST(XenPrivilege, KernelRestrictedPrivcmdNeverReachesXen) {
    // A domU's privcmd restricted to its xenstore target: restricting it to
    // the guest fails with EINVAL and the DMOP is not made.
    EXPECT_EQ(classify_dm_probe(DmProbe{0, EINVAL, 0}), DmAccess::kKernelRestricted);
    EXPECT_EQ(classify_dm_probe(DmProbe{0, EPERM, 0}), DmAccess::kUnknown);
    // No privcmd at all.
    EXPECT_EQ(classify_dm_probe(DmProbe{ENOENT, 0, 0}), DmAccess::kUnknown);
    std::string m = privcmd_restricted(7);
    EXPECT_TRUE(m.starts_with(kRefusedMarker)) << m;
    EXPECT_NE(m.find("unrestricted=1"), std::string::npos) << m;
    EXPECT_NE(m.find("grant"), std::string::npos) << m;
    EXPECT_LT(m.size(), 400u);
    EXPECT_NE(std::string(kNoTransportRestricted).find("unrestricted=1"), std::string::npos);
}

TEST(XenPrivilege, DeviceModelRefusalSaysWhatAndWhatToChange) {
    std::string m = device_model_refused(3, 7);
    EXPECT_TRUE(m.starts_with(kRefusedMarker)) << m;
    EXPECT_NE(m.find("domain 3"), std::string::npos) << m;
    EXPECT_NE(m.find("HVM guest 7"), std::string::npos) << m;
    EXPECT_NE(m.find("EPERM"), std::string::npos) << m;
    EXPECT_NE(m.find("XSM/FLASK"), std::string::npos) << m;
    EXPECT_NE(m.find("dom0"), std::string::npos) << m;
    // A xenstore value, and within what the control protocol carries of an error.
    EXPECT_LT(m.size(), 400u);
}

TEST(XenPrivilege, ForeignRefusalSaysWhatAndWhatToChange) {
    std::string m = foreign_map_refused(7);
    EXPECT_TRUE(m.starts_with(kRefusedMarker)) << m;
    EXPECT_NE(m.find("guest 7"), std::string::npos) << m;
    EXPECT_NE(m.find("foreign mapping"), std::string::npos) << m;
    EXPECT_NE(m.find("grant"), std::string::npos) << m;
    EXPECT_NE(m.find("XSM/FLASK"), std::string::npos) << m;
    EXPECT_LT(m.size(), 400u);
}

TEST(XenPrivilege, RefusalIsFoundInsideALongerError) {
    std::string refusal = foreign_map_refused(7);
    std::string wrapped = "ring area gpa 0x1000: mapping foreign region gpa 0x0 (16 frames of domain 7) whole: " + refusal;
    EXPECT_EQ(refusal_in(wrapped), refusal);
    EXPECT_EQ(refusal_in(refusal), refusal);
    EXPECT_TRUE(refusal_in("frame 0x10 of domain 7 could not be mapped (error -2)").empty());
    EXPECT_TRUE(refusal_in("").empty());
}

}  // namespace
}  // namespace xenvhost::xen
