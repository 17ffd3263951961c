#include "tests/xenstore/external_fixture.hpp"

#include <sys/stat.h>

#include <iostream>

namespace xenvhost::xstest {

void ExternalBackendLevel::SetUp() {
    DeviceModelLevel::SetUp();
    if (HasFatalFailure()) return;
    ext_dir = env->dir() + "/external";
    ASSERT_EQ(::mkdir(ext_dir.c_str(), 0700), 0);
}

void ExternalBackendLevel::TearDown() {
    // The daemon first (it must leave the back-end alone), then ours to stop.
    DeviceModelLevel::TearDown();
    if (backend && HasFailure()) std::cerr << "---- external back-end log\n" << backend->log() << "---- end\n";
    backend.reset();
}

std::vector<std::string> ExternalBackendLevel::external_args(const std::string& type) const {
    return {"--external-backend", type + " " + ext_dir + "/dom%d.sock"};
}

std::string ExternalBackendLevel::external_socket(unsigned domid) const {
    return fmt::format("{}/dom{}.sock", ext_dir, domid);
}

void ExternalBackendLevel::start_backend(const std::string& socket, const std::string& image,
                                         const std::vector<std::string>& env_vars) {
    auto p = Process::spawn({build_bin("xenvhost-worker"), "--socket-path", socket, "--blk-file", image, "--domid",
                             std::to_string(kGuest)},
                            ext_dir + "/backend.log", env_vars);
    ASSERT_TRUE(p.has_value()) << p.error().message;
    backend = std::move(*p);
    ASSERT_TRUE(XenstoreEnv::wait_file(socket, true, kWaitMs)) << "back-end not listening: " << backend->log();
}

Tree ExternalBackendLevel::x86_virtio(unsigned devid, const std::string& type) {
    Tree t = virtio(kGuest, devid, type, std::nullopt);
    t.set("/backend/", "base", "0");
    t.set("/backend/", "irq", "0");
    t.set("/backend/", "grant_usage", "0");
    return t;
}

void ExternalBackendLevel::expect_backend_untouched(pid_t pid, const std::string& socket, const std::string& image,
                                                    uint64_t sector) {
    ASSERT_TRUE(backend);
    EXPECT_EQ(backend->pid(), pid);
    EXPECT_TRUE(backend->alive()) << "the external back-end was stopped";
    struct stat st{};
    EXPECT_TRUE(::stat(socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) << "its socket " << socket << " is gone";
    EXPECT_EQ(backend->log().find("signal"), std::string::npos) << "it got a signal:\n" << backend->log();
    // Still listening: another front-end is served.
    expect_io(socket, image, sector);
}

}  // namespace xenvhost::xstest
