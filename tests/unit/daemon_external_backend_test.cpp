// external-backend values: the operator's own vhost-user back-end for a
// type of generic virtio device, its socket with the guest's domid in it.

#include "daemon/external_backend.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace xenvhost::daemon {
namespace {

std::string why(std::string_view text) {
    auto b = parse_external_backend(text);
    return b ? std::string("(accepted)") : b.error().message;
}

TEST(DaemonExternalBackend, VirtioTypesAreHexAsLibxlWritesThem) {
    EXPECT_EQ(parse_virtio_type("virtio,device2").value_or(0), 2u);
    EXPECT_EQ(parse_virtio_type("virtio,device22").value_or(0), 0x22u) << "I2C is 34";
    EXPECT_EQ(parse_virtio_type("virtio,device1a").value_or(0), 0x1au);
    EXPECT_EQ(parse_virtio_type("virtio,device02").value_or(0), 2u);
    EXPECT_EQ(parse_virtio_type("virtio,deviceffff").value_or(0), 0xffffu);
    struct Case {
        const char* type;
        const char* reason;
    };
    for (auto& c : std::initializer_list<Case>{{"virtio,device", "hexadecimal"},
                                               {"virtio,devicezz", "hexadecimal"},
                                               {"virtio,device0x22", "hexadecimal"},
                                               {"virtio,device-2", "hexadecimal"},
                                               {"virtio,device 2", "hexadecimal"},
                                               {"virtio,device0", "out of range"},
                                               {"virtio,device10000", "out of range"},
                                               {"virtio,device123456789012345678901", "hexadecimal"},
                                               {"virtio-device2", "not a virtio device type"},
                                               {"", "not a virtio device type"}}) {
        auto id = parse_virtio_type(c.type);
        ASSERT_FALSE(id.has_value()) << c.type;
        EXPECT_NE(id.error().message.find(c.reason), std::string::npos) << c.type << " -> " << id.error().message;
    }
}

TEST(DaemonExternalBackend, ValueIsTypeThenSocket) {
    auto b = parse_external_backend("  virtio,device22 \t /run/vhost-device-i2c/dom%d.sock  ");
    ASSERT_TRUE(b.has_value()) << b.error().message;
    EXPECT_EQ(b->virtio_id, 0x22u);
    EXPECT_EQ(b->type, "virtio,device22");
    EXPECT_EQ(b->socket, "/run/vhost-device-i2c/dom%d.sock");
    EXPECT_EQ(external_socket(*b, 5), "/run/vhost-device-i2c/dom5.sock");
    EXPECT_EQ(external_socket(*b, 32751), "/run/vhost-device-i2c/dom32751.sock");
}

TEST(DaemonExternalBackend, DomidAndPercentAreTheOnlySubstitutions) {
    auto b = parse_external_backend("virtio,device2 /srv/100%%/d%d/blk-%d.sock");
    ASSERT_TRUE(b.has_value()) << b.error().message;
    EXPECT_EQ(external_socket(*b, 12), "/srv/100%/d12/blk-12.sock");
    auto fixed = parse_external_backend("virtio,device2 /srv/one.sock");
    ASSERT_TRUE(fixed.has_value()) << fixed.error().message;
    EXPECT_EQ(external_socket(*fixed, 7), "/srv/one.sock") << "one socket for every guest is allowed";
}

TEST(DaemonExternalBackend, BadValuesSayWhy) {
    struct Case {
        const char* value;
        const char* reason;
    };
    const std::string too_long = "virtio,device22 /" + std::string(100, 'x') + "/%d.sock";
    const std::vector<Case> cases = {
        {"", "is not 'virtio,device<N> SOCKET'"},
        {"virtio,device22", "is not 'virtio,device<N> SOCKET'"},
        {"virtio,device22 /a.sock extra", "is not 'virtio,device<N> SOCKET'"},
        {"/run/x.sock virtio,device22", "not a virtio device type"},
        {"virtio,devicez /run/x.sock", "hexadecimal"},
        {"virtio,device22 run/dom%d.sock", "not an absolute path"},
        {"virtio,device22 ./dom%d.sock", "not an absolute path"},
        {"virtio,device22 /run/dom%s.sock", "'%s'"},
        {"virtio,device22 /run/dom%u.sock", "'%u'"},
        {"virtio,device22 /run/dom%5d.sock", "'%5'"},
        {"virtio,device22 /run/dom%", "lone %"},
        {"virtio,device22 /run/a,b.sock", "comma"},
        {too_long.c_str(), "longer than a unix socket path"},
    };
    for (const auto& c : cases) {
        std::string reason = why(c.value);
        EXPECT_NE(reason.find(c.reason), std::string::npos) << "'" << c.value << "' -> " << reason;
        if (reason != "(accepted)") {
            EXPECT_NE(reason.find("external-backend"), std::string::npos) << reason;
            EXPECT_EQ(reason.find('\n'), std::string::npos) << reason;
        }
    }
    // The longest socket that fits, with the largest domid (5 digits).
    const std::string fits = "virtio,device22 /" + std::string(107 - 1 - 5 - 5, 'y') + "%d.sock";
    EXPECT_EQ(why(fits), "(accepted)");
    const std::string over = "virtio,device22 /" + std::string(107 - 5 - 5, 'y') + "%d.sock";
    EXPECT_NE(why(over).find("longer"), std::string::npos) << why(over);
}

TEST(DaemonExternalBackend, ListRefusesTwiceTheSameDeviceAndTheRunDirectory) {
    auto list = parse_external_backends({"virtio,device22 /run/i2c/%d.sock", "virtio,device29 /run/gpio/%d.sock"},
                                        "/run/xenvhost");
    ASSERT_TRUE(list.has_value()) << list.error().message;
    ASSERT_EQ(list->size(), 2u);
    ASSERT_NE(find_external_backend(*list, 0x29), nullptr);
    EXPECT_EQ(find_external_backend(*list, 0x29)->socket, "/run/gpio/%d.sock");
    EXPECT_EQ(find_external_backend(*list, 0x22)->type, "virtio,device22");
    EXPECT_EQ(find_external_backend(*list, 2), nullptr);

    auto twice = parse_external_backends({"virtio,device22 /a/%d", "virtio,device022 /b/%d"}, "/run/xenvhost");
    ASSERT_FALSE(twice.has_value());
    EXPECT_NE(twice.error().message.find("configured twice"), std::string::npos) << twice.error().message;

    auto under = parse_external_backends({"virtio,device22 /run/xenvhost/dom%d/i2c.sock"}, "/run/xenvhost");
    ASSERT_FALSE(under.has_value());
    EXPECT_NE(under.error().message.find("run directory"), std::string::npos) << under.error().message;
    EXPECT_TRUE(parse_external_backends({"virtio,device22 /run/xenvhost-i2c/%d.sock"}, "/run/xenvhost").has_value())
        << "a sibling directory whose name starts the same is not under it";
    EXPECT_TRUE(parse_external_backends({}, "/run/xenvhost").value_or(ExternalBackends{{}}).empty());
}

class ExternalSocketCheck : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/xenvhost-ext.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
    }
    void TearDown() override { (void)!std::system(("rm -rf " + dir).c_str()); }
    std::string dir;
};

TEST_F(ExternalSocketCheck, OnlyAnExistingSocketPasses) {
    const std::string sock = dir + "/b.sock";
    auto missing = check_external_socket(sock);
    ASSERT_FALSE(missing.has_value());
    EXPECT_NE(missing.error().message.find("is not there"), std::string::npos) << missing.error().message;
    EXPECT_NE(missing.error().message.find(sock), std::string::npos) << missing.error().message;

    std::ofstream(dir + "/file") << "x";
    auto file = check_external_socket(dir + "/file");
    ASSERT_FALSE(file.has_value());
    EXPECT_NE(file.error().message.find("not a socket"), std::string::npos) << file.error().message;

    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    EXPECT_TRUE(check_external_socket(sock).has_value());
    ::close(fd);
}

}  // namespace
}  // namespace xenvhost::daemon
