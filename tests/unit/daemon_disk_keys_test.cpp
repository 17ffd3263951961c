// virtio-disk-keys values: what libxl 4.17 cannot write for an x86 HVM
// guest's virtio disk (grant_usage, a virtio-mmio window), per devid.

#include "daemon/disk_keys.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace xenvhost::daemon {
namespace {

DeviceEntry disk(unsigned devid, DeviceKind kind = DeviceKind::kVirtioDisk) {
    DeviceEntry e;
    e.key = DeviceKey{kind, 5, devid};
    return e;
}

TEST(DaemonDiskKeys, ValueIsDevidThenKeys) {
    auto k = parse_disk_keys("  51792   grant_usage=1,base=0xfe000000,irq=7 ");
    ASSERT_TRUE(k) << k.error().message;
    EXPECT_EQ(k->devid, 51792u);
    EXPECT_EQ(k->grant_usage, std::optional<bool>(true));
    EXPECT_EQ(k->base, 0xfe000000u);
    EXPECT_EQ(k->irq, 7u);
    auto g = parse_disk_keys("51712 grant_usage=0");
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(g->grant_usage, std::optional<bool>(false));
    EXPECT_EQ(g->base, 0u);
}

TEST(DaemonDiskKeys, BadValuesSayWhy) {
    for (const char* text : {"", "51792", "grant_usage=1", "xvdf grant_usage=1", "51792 grant_usage=2",
                             "51792 colour=blue", "51792 base=0xfe000000", "51792 irq=7", "51792 base=0,irq=7",
                             "51792 base=x,irq=7", "51792 grant_usage=1, base=0x1000,irq=7", "51792 grant_usage"}) {
        auto k = parse_disk_keys(text);
        EXPECT_FALSE(k) << text;
        if (!k) {
            EXPECT_NE(k.error().message.find("virtio-disk-keys"), std::string::npos) << k.error().message;
        }
    }
}

TEST(DaemonDiskKeys, ListRefusesTheSameDevidTwice) {
    auto list = parse_disk_keys_list({"51792 grant_usage=1", "51808 base=0xfe000200,irq=6"});
    ASSERT_TRUE(list) << list.error().message;
    EXPECT_EQ(list->size(), 2u);
    EXPECT_FALSE(parse_disk_keys_list({"51792 grant_usage=1", "51792 base=0xfe000000,irq=7"}));
}

TEST(DaemonDiskKeys, FillOnlyWhatTheToolstackLeftOut) {
    auto list = parse_disk_keys_list({"51792 grant_usage=1,base=0xfe000000,irq=7"});
    ASSERT_TRUE(list);
    DeviceEntry e = disk(51792);
    apply_disk_keys(e, *list);
    EXPECT_EQ(e.grant_usage, std::optional<bool>(true));
    EXPECT_EQ(e.base, 0xfe000000u);
    EXPECT_EQ(e.irq, 7u);

    // Xen 4.19 wrote grant_usage, Arm's libxl a window: theirs stay.
    DeviceEntry written = disk(51792);
    written.grant_usage = false;
    written.base = 0x2000000;
    written.irq = 33;
    apply_disk_keys(written, *list);
    EXPECT_EQ(written.grant_usage, std::optional<bool>(false));
    EXPECT_EQ(written.base, 0x2000000u);
    EXPECT_EQ(written.irq, 33u);

    DeviceEntry other = disk(51712);
    apply_disk_keys(other, *list);
    EXPECT_FALSE(other.grant_usage);
    EXPECT_EQ(other.base, 0u);

    // Generic virtio=[...] devices have their own grant_usage and window keys.
    DeviceEntry generic = disk(51792, DeviceKind::kVirtio);
    apply_disk_keys(generic, *list);
    EXPECT_FALSE(generic.grant_usage);
    EXPECT_EQ(generic.base, 0u);
}

}  // namespace
}  // namespace xenvhost::daemon
