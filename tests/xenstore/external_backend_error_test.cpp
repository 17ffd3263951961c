// What stops an external back-end's device, each with its own error key,
// while the guest's other devices are served: no back-end configured for the
// type, its socket missing (when the device appears or when the device model
// starts again), two devices on one socket, and a socket nobody listens on.

#include "tests/xenstore/external_fixture.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace xenvhost::xstest {
namespace {

std::string error_of(XenstoreEnv& env, const std::string& dir) {
    return env.read(dir + "/xenvhost-error").value_or("(no error key)");
}

// A socket file nobody listens on, as a back-end that died leaves it.
void stale_socket(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    ::close(fd);
}

TEST_F(ExternalBackendLevel, MissingSocketAndUnconfiguredTypeFailOnlyTheirDevices) {
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double(external_args("virtio,device22")));
    const std::string missing = be("virtio", kGuest, 0), unconfigured = be("virtio", kGuest, 1);
    const std::string disk_dir = be("virtio_disk", kGuest, kXvda);
    Tree all = x86_virtio(0, "virtio,device22");  // no back-end started
    for (auto& s : x86_virtio(1, "virtio,device29").sections) all.sections.push_back(s);
    for (auto& s : x86_disk(kXvda, image("a.img")).sections) all.sections.push_back(s);
    XS_ASSERT_OK(env->write_tree(all));

    ASSERT_TRUE(wait_state(disk_dir, "2")) << error_of(*env, disk_dir);
    ASSERT_TRUE(wait_error(missing));
    ASSERT_TRUE(wait_error(unconfigured));
    const std::string why_missing = error_of(*env, missing), why_unconfigured = error_of(*env, unconfigured);
    std::printf("missing socket: xenvhost-error = \"%s\"\n", why_missing.c_str());
    std::printf("unconfigured type: xenvhost-error = \"%s\"\n", why_unconfigured.c_str());
    EXPECT_NE(why_missing.find(external_socket(kGuest) + " is not there"), std::string::npos) << why_missing;
    EXPECT_NE(why_unconfigured.find("external-backend = virtio,device29 SOCKET"), std::string::npos)
        << why_unconfigured;
    for (const auto& dir : {missing, unconfigured}) {
        EXPECT_EQ(env->read(dir + "/state"), "1") << dir;
        EXPECT_FALSE(env->read(dir + "/vhost-user-socket").has_value()) << dir;
        EXPECT_FALSE(env->read(dir + "/xenvhost-dm-pid").has_value()) << dir;
    }
    // The device model has the disk only.
    const pid_t dm = model_pid(disk_dir);
    ASSERT_TRUE(pid_alive(dm));
    auto devices = option_values(process_args(dm), "--device");
    ASSERT_EQ(devices.size(), 1u);
    EXPECT_NE(devices[0].find(fmt::format("name=virtio_disk-{},", kXvda)), std::string::npos) << devices[0];
}

TEST_F(ExternalBackendLevel, SocketGoneWhenTheModelStartsAgainFailsThatDeviceOnly) {
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double(external_args("virtio,device22")));
    const std::string sock = external_socket(kGuest);
    ASSERT_NO_FATAL_FAILURE(start_backend(sock, image("ext.img"), xd->daemon_env()));
    const std::string dir = be("virtio", kGuest, 0), disk_dir = be("virtio_disk", kGuest, kXvda);
    XS_ASSERT_OK(env->write_tree(x86_virtio(0, "virtio,device22")));
    ASSERT_TRUE(wait_state(dir, "2")) << error_of(*env, dir);
    const pid_t first = model_pid(dir);
    // The back-end's socket goes (its process still runs); a disk arriving
    // before the guest runs makes the daemon start the device model again.
    ASSERT_EQ(::unlink(sock.c_str()), 0);
    XS_ASSERT_OK(env->write_tree(x86_disk(kXvda, image("a.img"))));
    ASSERT_TRUE(wait_state(disk_dir, "2")) << error_of(*env, disk_dir);
    ASSERT_TRUE(wait_error(dir));
    EXPECT_NE(error_of(*env, dir).find(sock + " is not there"), std::string::npos) << error_of(*env, dir);
    const pid_t second = model_pid(disk_dir);
    EXPECT_NE(second, first);
    EXPECT_TRUE(wait_for([&] { return process_gone(first); }, kWaitMs));
    auto devices = option_values(process_args(second), "--device");
    ASSERT_EQ(devices.size(), 1u) << "the device model was given the device without a socket";
    EXPECT_NE(devices[0].find("name=virtio_disk-"), std::string::npos) << devices[0];
    EXPECT_TRUE(backend->alive());
}

TEST_F(ExternalBackendLevel, SecondDeviceOnTheSameSocketIsRefused) {
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double(external_args("virtio,device22")));
    ASSERT_NO_FATAL_FAILURE(start_backend(external_socket(kGuest), image("ext.img"), xd->daemon_env()));
    const std::string first = be("virtio", kGuest, 0), second = be("virtio", kGuest, 1);
    XS_ASSERT_OK(env->write_tree(x86_virtio(0, "virtio,device22")));
    ASSERT_TRUE(wait_state(first, "2")) << error_of(*env, first);
    XS_ASSERT_OK(env->write_tree(x86_virtio(1, "virtio,device22")));
    ASSERT_TRUE(wait_error(second));
    EXPECT_NE(error_of(*env, second).find("already serves dom5 virtio/0"), std::string::npos) << error_of(*env, second);
    EXPECT_EQ(env->read(second + "/state"), "1");
    EXPECT_EQ(env->read(first + "/state"), "2");
    EXPECT_FALSE(env->read(first + "/xenvhost-error").has_value());
    // Once the first is closed, the socket is free: rewriting the second's keys serves it.
    const pid_t dm = model_pid(first);
    XS_ASSERT_OK(env->close_backend(first));
    ASSERT_TRUE(wait_state(first, "6"));
    // A device that arrives while the guest's device model is still stopping
    // is failed with it ("another device of the guest was closed"), whoever
    // serves it: wait until that one is gone.
    ASSERT_TRUE(wait_for([&] { return process_gone(dm); }, kWaitMs));
    XS_ASSERT_OK(env->xs().write(second + "/grant_usage", "1"));
    ASSERT_TRUE(wait_state(second, "2")) << error_of(*env, second);
    EXPECT_FALSE(env->read(second + "/xenvhost-error").has_value());
    EXPECT_EQ(option_values(process_args(model_pid(second)), "--device"),
              std::vector<std::string>{fmt::format("name=virtio-1,socket={},virtio-id=34,transport=pci,slot=16,"
                                                   "regions=grant",
                                                   external_socket(kGuest))});
}

TEST_F(ExternalBackendLevel, StaleSocketFailsTheDeviceModelAndSaysWhichBackend) {
    // The device model cannot connect to a socket nobody listens on and exits
    // before it is ready, which fails every device of the guest (as any
    // device model failure does); the external device's key says where to look.
    ASSERT_NO_FATAL_FAILURE(hvm_guest_with_double(external_args("virtio,device22")));
    const std::string sock = external_socket(kGuest);
    ASSERT_NO_FATAL_FAILURE(stale_socket(sock));
    const std::string dir = be("virtio", kGuest, 0), disk_dir = be("virtio_disk", kGuest, kXvda);
    Tree both = x86_virtio(0, "virtio,device22");
    for (auto& s : x86_disk(kXvda, image("a.img")).sections) both.sections.push_back(s);
    XS_ASSERT_OK(env->write_tree(both));
    ASSERT_TRUE(wait_error(dir));
    ASSERT_TRUE(wait_error(disk_dir));
    const std::string why = error_of(*env, dir);
    std::printf("stale socket: xenvhost-error = \"%s\"\n", why.c_str());
    EXPECT_NE(why.find("device model exited with status 1"), std::string::npos) << why;
    EXPECT_NE(why.find("is the external back-end on " + sock + " listening?"), std::string::npos) << why;
    EXPECT_EQ(error_of(*env, disk_dir).find("external"), std::string::npos) << error_of(*env, disk_dir);
    EXPECT_NE(env->read(dir + "/state"), "2");
    EXPECT_NE(daemon->log().find("device virtio-0: connect " + sock + ": Connection refused"), std::string::npos)
        << "the device model's log does not say why";
}

}  // namespace
}  // namespace xenvhost::xstest
