// Device directories as libxl writes them, parsed into what the worker needs;
// everything that makes a device unservable gives a readable reason.

#include "daemon/device_entry.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace xenvhost::daemon {
namespace {

const DeviceKey kDisk{DeviceKind::kVirtioDisk, 5, 51712};
const DeviceKey kVirtio{DeviceKind::kVirtio, 5, 0};

// What libxl 4.17 writes for a read-write disk (see xenstore/examples).
KeyValues disk417() {
    return {{"frontend-id", "5"},  {"params", "/srv/g.img"}, {"mode", "w"},       {"type", "standalone"},
            {"specification", "virtio"}, {"transport", "mmio"}, {"device-type", "disk"}, {"discard-enable", "1"},
            {"base", "33554432"}, {"irq", "33"}, {"dev", "xvda"}};
}

KeyValues virtio418() {
    return {{"frontend-id", "5"}, {"type", "virtio,device2"}, {"transport", "mmio"}, {"grant_usage", "1"},
            {"base", "0x2000000"}, {"irq", "33"}, {"params", "/srv/v.img"}};
}

std::string reason(const DeviceKey& key, const KeyValues& v) {
    auto r = parse_entry(key, v);
    return r ? std::string("(accepted)") : r.error().message;
}

TEST(DaemonEntry, Disk417) {
    auto e = parse_entry(kDisk, disk417());
    ASSERT_TRUE(e.has_value()) << e.error().message;
    EXPECT_EQ(e->image, "/srv/g.img");
    EXPECT_FALSE(e->read_only);
    EXPECT_FALSE(e->cdrom);
    EXPECT_TRUE(e->discard);
    EXPECT_FALSE(e->grant_usage.has_value());
    EXPECT_EQ(e->base, 0x2000000u);
    EXPECT_EQ(e->irq, 33u);
    EXPECT_EQ(e->serial, "xvda");
}

TEST(DaemonEntry, DiskVariants) {
    auto v = disk417();
    v["mode"] = "r";
    v.erase("discard-enable");
    v["grant_usage"] = "1";
    auto e = parse_entry(kDisk, v);
    ASSERT_TRUE(e.has_value()) << e.error().message;
    EXPECT_TRUE(e->read_only);
    EXPECT_FALSE(e->discard) << "libxl's default is discard on read-write disks only";
    EXPECT_EQ(e->grant_usage, true);

    v = disk417();
    v["device-type"] = "cdrom";
    e = parse_entry(kDisk, v);
    ASSERT_TRUE(e.has_value());
    EXPECT_TRUE(e->cdrom);
    EXPECT_TRUE(e->read_only) << "a cdrom is read-only whatever the mode says";

    v = disk417();  // x86: no virtio-mmio window
    v["base"] = "0";
    v["irq"] = "0";
    EXPECT_TRUE(parse_entry(kDisk, v).has_value());

    v = disk417();  // keys the parser does not need may be missing
    v.erase("type");
    v.erase("specification");
    v.erase("transport");
    v.erase("base");
    v.erase("frontend-id");
    EXPECT_TRUE(parse_entry(kDisk, v).has_value());
}

TEST(DaemonEntry, BadDisksSayWhy) {
    struct Case {
        const char* key;
        std::optional<std::string> value;
        const char* reason;
    };
    for (auto& c : std::initializer_list<Case>{
             {"params", std::nullopt, "params"},
             {"params", "", "params"},
             {"params", "g.img", "absolute"},
             {"mode", std::nullopt, "mode is missing"},
             {"mode", "rw", "mode 'rw'"},
             {"mode", "x", "mode 'x'"},
             {"type", "phy", "type 'phy'"},
             {"specification", "xen", "specification 'xen'"},
             {"transport", "pci", "transport 'pci'"},
             {"device-type", "floppy", "device-type 'floppy'"},
             {"discard-enable", "yes", "discard-enable"},
             {"grant_usage", "2", "grant_usage"},
             {"base", "0xzz", "base"},
             {"base", "-1", "base"},
             {"irq", "33abc", "irq"},
             {"irq", "4294967296", "irq"},
             {"frontend-id", "five", "frontend-id"},
             {"frontend-id", "6", "does not match"},
         }) {
        auto v = disk417();
        if (c.value) v[c.key] = *c.value;
        else v.erase(c.key);
        std::string why = reason(kDisk, v);
        EXPECT_NE(why.find(c.reason), std::string::npos) << c.key << "=" << c.value.value_or("(none)") << " -> " << why;
    }
}

TEST(DaemonEntry, GenericVirtioBlock) {
    auto e = parse_entry(kVirtio, virtio418());
    ASSERT_TRUE(e.has_value()) << e.error().message;
    EXPECT_EQ(e->image, "/srv/v.img");
    EXPECT_FALSE(e->read_only);
    EXPECT_EQ(e->base, 0x2000000u) << "hex base";
    EXPECT_EQ(e->grant_usage, true);
    auto v = virtio418();
    v["mode"] = "r";
    EXPECT_TRUE(parse_entry(kVirtio, v)->read_only);
    v["type"] = "virtio,device02";  // the same device number
    EXPECT_TRUE(parse_entry(kVirtio, v).has_value());
}

TEST(DaemonEntry, GenericVirtioOfOtherTypesIsRefused) {
    struct Case {
        std::optional<std::string> type;
        const char* reason;
    };
    for (auto& c : std::initializer_list<Case>{{"virtio,device22", "only virtio,device2"},
                                               {"virtio,device1a", "only virtio,device2"},
                                               {"virtio,devicezz", "hexadecimal"},
                                               {"virtio,device", "hexadecimal"},
                                               {"foo", "not a virtio device type"},
                                               {std::nullopt, "type is missing"}}) {
        auto v = virtio418();
        if (c.type) v["type"] = *c.type;
        else v.erase("type");
        std::string why = reason(kVirtio, v);
        EXPECT_NE(why.find(c.reason), std::string::npos) << c.type.value_or("(none)") << " -> " << why;
    }
    auto v = virtio418();
    v.erase("params");
    EXPECT_NE(reason(kVirtio, v).find("params"), std::string::npos);
    v = virtio418();
    v["base"] = "0x";
    EXPECT_NE(reason(kVirtio, v).find("base"), std::string::npos);
}

TEST(DaemonEntry, UnservedTypeNamesTheKeyThatWouldServeIt) {
    auto v = virtio418();
    v["type"] = "virtio,device22";
    std::string why = reason(kVirtio, v);
    EXPECT_NE(why.find("external-backend = virtio,device22 SOCKET"), std::string::npos) << why;
    // A back-end for another type does not serve this one.
    auto gpio = parse_external_backends({"virtio,device29 /run/gpio/%d.sock"}, "/run/xenvhost");
    ASSERT_TRUE(gpio.has_value());
    EXPECT_FALSE(parse_entry(kVirtio, v, *gpio).has_value());
    v.erase("params");
    v["type"] = "virtio,device2";
    EXPECT_NE(reason(kVirtio, v).find("external-backend = virtio,device2 SOCKET"), std::string::npos);
}

TEST(DaemonEntry, GenericVirtioOfAConfiguredTypeGoesToItsExternalBackend) {
    auto ext = parse_external_backends({"virtio,device22 /run/i2c/dom%d.sock", "virtio,device2 /srv/blk-%d.sock"},
                                       "/run/xenvhost");
    ASSERT_TRUE(ext.has_value()) << ext.error().message;
    auto v = virtio418();
    v["type"] = "virtio,device22";
    v.erase("params");  // nothing for the operator to write
    const DeviceKey guest7{DeviceKind::kVirtio, 7, 3};
    v["frontend-id"] = "7";
    auto e = parse_entry(guest7, v, *ext);
    ASSERT_TRUE(e.has_value()) << e.error().message;
    EXPECT_EQ(e->virtio_id, 0x22u);
    EXPECT_EQ(e->external_socket, "/run/i2c/dom7.sock");
    EXPECT_TRUE(e->image.empty());
    EXPECT_EQ(e->base, 0x2000000u) << "the transport keys are read as for any device";
    EXPECT_EQ(e->grant_usage, true);
    EXPECT_TRUE(check_image(*e).has_value()) << "no image to check";

    // virtio,device2 with a back-end of the operator's replaces the worker, params or not.
    auto blk = virtio418();
    blk["frontend-id"] = "7";
    auto b = parse_entry(guest7, blk, *ext);
    ASSERT_TRUE(b.has_value()) << b.error().message;
    EXPECT_EQ(b->virtio_id, 2u);
    EXPECT_EQ(b->external_socket, "/srv/blk-7.sock");
    EXPECT_TRUE(b->image.empty()) << "params is not ours to serve";
    // Without one, the worker serves it from params.
    auto w = parse_entry(guest7, blk);
    ASSERT_TRUE(w.has_value()) << w.error().message;
    EXPECT_TRUE(w->external_socket.empty());
    EXPECT_EQ(w->image, "/srv/v.img");

    // Bad transport keys still refuse it.
    v["transport"] = "pci";
    EXPECT_FALSE(parse_entry(guest7, v, *ext).has_value());
    v = virtio418();
    v["type"] = "virtio,device22";
    v["grant_usage"] = "yes";
    EXPECT_FALSE(parse_entry(guest7, v, *ext).has_value());
    // Disks never go to an external back-end.
    auto d = parse_entry(kDisk, disk417(), *ext);
    ASSERT_TRUE(d.has_value()) << d.error().message;
    EXPECT_TRUE(d->external_socket.empty());
    EXPECT_EQ(d->virtio_id, 2u);
}

TEST(DaemonEntry, EntryKeysCoverWhatTheParserReads) {
    for (auto k : {"params", "mode", "type", "device-type", "discard-enable", "grant_usage", "base", "irq", "frontend-id"}) {
        bool found = false;
        for (auto e : entry_keys(DeviceKind::kVirtioDisk)) found = found || e == k;
        EXPECT_TRUE(found) << k;
    }
}

class ImageCheck : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/xenvhost-entry.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
    }
    void TearDown() override { (void)!std::system(("rm -rf " + dir).c_str()); }
    DeviceEntry entry(const std::string& image, bool ro) {
        DeviceEntry e;
        e.key = kDisk;
        e.image = image;
        e.read_only = ro;
        return e;
    }
    std::string dir;
};

TEST_F(ImageCheck, RegularFileIsAccepted) {
    std::string img = dir + "/g.img";
    int fd = ::open(img.c_str(), O_CREAT | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    ::close(fd);
    EXPECT_TRUE(check_image(entry(img, false)).has_value());
    EXPECT_TRUE(check_image(entry(img, true)).has_value());
}

TEST_F(ImageCheck, MissingDirectoryAndUnopenableAreRefused) {
    auto missing = check_image(entry(dir + "/none.img", false));
    ASSERT_FALSE(missing.has_value());
    EXPECT_NE(missing.error().message.find("No such file"), std::string::npos) << missing.error().message;
    auto directory = check_image(entry(dir, true));
    ASSERT_FALSE(directory.has_value());
    EXPECT_NE(directory.error().message.find("not a regular file"), std::string::npos);
    auto fifo_path = dir + "/fifo";
    ASSERT_EQ(::mkfifo(fifo_path.c_str(), 0600), 0);
    EXPECT_FALSE(check_image(entry(fifo_path, true)).has_value());
}

}  // namespace
}  // namespace xenvhost::daemon
