// Which device a xenstore path names, and the number parsers the daemon uses.

#include "daemon/backend_path.hpp"

#include <gtest/gtest.h>

namespace xenvhost::daemon {
namespace {

TEST(DaemonPath, ClassifiesEventPaths) {
    auto root = classify_path(0, "/local/domain/0/backend/virtio_disk");
    ASSERT_TRUE(root);
    EXPECT_EQ(root->kind, DeviceKind::kVirtioDisk);
    EXPECT_FALSE(root->domid);

    auto guest = classify_path(0, "/local/domain/0/backend/virtio/5");
    ASSERT_TRUE(guest);
    EXPECT_EQ(guest->kind, DeviceKind::kVirtio);
    EXPECT_EQ(guest->domid, "5");
    EXPECT_FALSE(guest->devid);

    auto key = classify_path(3, "/local/domain/3/backend/virtio_disk/5/51712/state");
    ASSERT_TRUE(key);
    EXPECT_EQ(key->domid, "5");
    EXPECT_EQ(key->devid, "51712");
    EXPECT_EQ(key->rest, "state");

    auto dir = classify_path(0, "/local/domain/0/backend/virtio/7/0");
    ASSERT_TRUE(dir);
    EXPECT_EQ(dir->devid, "0");
    EXPECT_EQ(dir->rest, "");

    // Not ours: another backend domain, another kind, a prefix that only looks alike.
    EXPECT_FALSE(classify_path(0, "/local/domain/1/backend/virtio_disk/5/0"));
    EXPECT_FALSE(classify_path(0, "/local/domain/0/backend/vbd/5/51712"));
    EXPECT_FALSE(classify_path(0, "/local/domain/0/backend/virtio_diskette/5/0"));
    EXPECT_FALSE(classify_path(0, "@releaseDomain"));
}

TEST(DaemonPath, DerivedNames) {
    DeviceKey k{DeviceKind::kVirtioDisk, 5, 51712};
    EXPECT_EQ(k.name(), "virtio_disk-51712");
    EXPECT_EQ(k.label(), "dom5 virtio_disk/51712");
    EXPECT_EQ(device_dir(0, k), "/local/domain/0/backend/virtio_disk/5/51712");
    EXPECT_EQ(device_dir(3, DeviceKey{DeviceKind::kVirtio, 9, 1}), "/local/domain/3/backend/virtio/9/1");
}

TEST(DaemonPath, StrictIds) {
    EXPECT_EQ(parse_id("0", 100).value(), 0u);
    EXPECT_EQ(parse_id("51712", 1u << 31).value(), 51712u);
    for (auto bad : {"", "-1", "+1", "007", "1x", "x", " 1", "0x10", "4294967296"})
        EXPECT_FALSE(parse_id(bad, 0xffffffffu).has_value()) << bad;
    EXPECT_FALSE(parse_id("101", 100).has_value());
}

TEST(DaemonPath, NumbersWithBaseDetection) {
    EXPECT_EQ(parse_number("33554432").value(), 0x2000000u);  // disks: decimal
    EXPECT_EQ(parse_number("0x2000000").value(), 0x2000000u);  // generic virtio: %#x
    EXPECT_EQ(parse_number("0X1f").value(), 31u);
    EXPECT_EQ(parse_number("0").value(), 0u);
    EXPECT_EQ(parse_number("010").value(), 8u);  // as strtoull(.., 0) reads it
    EXPECT_EQ(parse_number("18446744073709551615").value(), UINT64_MAX);
    for (auto bad : {"", "0x", "0xzz", "12a", "-3", " 3", "3 ", "09", "18446744073709551616", "1e3"})
        EXPECT_FALSE(parse_number(bad).has_value()) << bad;
}

}  // namespace
}  // namespace xenvhost::daemon
