// xenvhostd's command line and configuration file.

#include "daemon/options.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace xenvhost::daemon {
namespace {

Result<Options> parse(std::vector<std::string> args) {
    args.insert(args.begin(), "xenvhostd");
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    return parse_options(static_cast<int>(argv.size()), argv.data());
}

class DaemonOptions : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/xenvhost-opts.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
    }
    void TearDown() override { (void)!std::system(("rm -rf " + dir).c_str()); }
    std::string config(const std::string& text) {
        static int n = 0;
        std::string path = dir + "/xenvhostd-" + std::to_string(++n) + ".conf";
        std::ofstream(path) << text;
        return path;
    }
    std::string dir;
    const std::string worker = "/bin/true";  // any executable will do
};

TEST_F(DaemonOptions, GuestIdentity) {
    auto o = parse({"--worker", worker});
    ASSERT_TRUE(o.has_value()) << o.error().message;
    EXPECT_EQ(o->identity.range_base, "xenvhost-range-base");
    EXPECT_EQ(o->identity.shared_user, "xenvhost");
    EXPECT_FALSE(o->identity.run_as_root);
    o = parse({"--worker", worker, "--config",
               config("guest-uid-range-base = 3900000000\nguest-user =\nrun-as-root = yes\n")});
    ASSERT_TRUE(o.has_value()) << o.error().message;
    EXPECT_EQ(o->identity.range_base, "3900000000");
    EXPECT_EQ(o->identity.shared_user, "");
    EXPECT_TRUE(o->identity.run_as_root);
    for (std::vector<std::string> bad : {std::vector<std::string>{"--run-as-root", "maybe"},
                                         {"--guest-uid-range-base", "0"},
                                         {"--guest-user", "5:0"},
                                         {"--guest-user", "-rf"}}) {
        bad.insert(bad.begin(), {"--worker", worker});
        auto r = parse(bad);
        ASSERT_FALSE(r.has_value()) << bad[2] << " " << bad[3];
        EXPECT_NE(r.error().message.find(bad[2]), std::string::npos) << r.error().message;
    }
}

TEST_F(DaemonOptions, Defaults) {
    auto o = parse({"--worker", worker});
    ASSERT_TRUE(o.has_value()) << o.error().message;
    EXPECT_EQ(o->run_dir, "/run/xenvhost");
    EXPECT_EQ(o->worker, worker);
    EXPECT_EQ(o->log_level, log::Level::kInfo);
    EXPECT_EQ(o->max_restarts, 5u);
    EXPECT_FALSE(o->help);
}

TEST_F(DaemonOptions, CommandLine) {
    auto o = parse({"--worker", worker, "--run-dir", dir + "/run/", "--log-level", "debug", "--max-restarts", "3",
                    "--restart-window", "30", "--restart-backoff", "50", "--restart-backoff-max", "800"});
    ASSERT_TRUE(o.has_value()) << o.error().message;
    EXPECT_EQ(o->run_dir, dir + "/run") << "trailing slash dropped";
    EXPECT_EQ(o->log_level, log::Level::kDebug);
    EXPECT_EQ(o->max_restarts, 3u);
    EXPECT_EQ(o->restart_window_s, 30u);
    EXPECT_EQ(o->backoff_initial_ms, 50u);
    EXPECT_EQ(o->backoff_max_ms, 800u);
    EXPECT_TRUE(parse({"--help"})->help);
    auto v = parse({"--version"});
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->version);
    EXPECT_FALSE(v->help);
}

TEST_F(DaemonOptions, ConfigFileFillsWhatTheCommandLineLeaves) {
    auto cfg = config("# comment\nrun-dir = /srv/xv\nlog-level = warn\nmax-restarts = 9\nworker = /bin/true\n");
    auto o = parse({"--config", cfg, "--log-level", "error"});
    ASSERT_TRUE(o.has_value()) << o.error().message;
    EXPECT_EQ(o->run_dir, "/srv/xv");
    EXPECT_EQ(o->log_level, log::Level::kError) << "the command line wins";
    EXPECT_EQ(o->max_restarts, 9u);
    EXPECT_EQ(o->config_file, cfg);
}

TEST_F(DaemonOptions, ExternalBackendsFromTheCommandLine) {
    EXPECT_TRUE(parse({"--worker", worker})->external_backends.empty()) << "none by default";
    auto o = parse({"--worker", worker, "--external-backend", "virtio,device22 /run/i2c/dom%d.sock",
                    "--external-backend", "virtio,device2 /run/blk/%d.sock"});
    ASSERT_TRUE(o.has_value()) << o.error().message;
    ASSERT_EQ(o->external_backends.size(), 2u);
    EXPECT_EQ(o->external_backends[0].virtio_id, 0x22u);
    EXPECT_EQ(o->external_backends[0].socket, "/run/i2c/dom%d.sock");
    EXPECT_EQ(o->external_backends[1].virtio_id, 2u);
    EXPECT_EQ(o->external_backends[1].type, "virtio,device2");
}

TEST_F(DaemonOptions, VirtioDiskKeysAreRepeatable) {
    EXPECT_TRUE(parse({"--worker", worker})->disk_keys.empty()) << "none by default";
    auto cfg = config("worker = /bin/true\n"
                      "virtio-disk-keys = 51792 grant_usage=1\n"
                      "virtio-disk-keys = 51808 grant_usage=1,base=0xfe000000,irq=7\n");
    auto o = parse({"--config", cfg});
    ASSERT_TRUE(o.has_value()) << o.error().message;
    ASSERT_EQ(o->disk_keys.size(), 2u);
    EXPECT_EQ(o->disk_keys[1].devid, 51808u);
    EXPECT_EQ(o->disk_keys[1].irq, 7u);
    auto bad = parse({"--worker", worker, "--virtio-disk-keys", "51792 grant_usage=yes"});
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().message.find("grant_usage"), std::string::npos) << bad.error().message;
}

TEST_F(DaemonOptions, ExternalBackendIsRepeatableInTheConfigFile) {
    auto cfg = config("worker = /bin/true\n"
                      "external-backend = virtio,device22 /run/vhost-device-i2c/dom%d.sock\n"
                      "# a comment between them\n"
                      "external-backend =   virtio,device29    /run/vhost-device-gpio/dom%d.sock  \n");
    auto o = parse({"--config", cfg});
    ASSERT_TRUE(o.has_value()) << o.error().message;
    ASSERT_EQ(o->external_backends.size(), 2u);
    EXPECT_EQ(o->external_backends[0].type, "virtio,device22");
    EXPECT_EQ(o->external_backends[1].virtio_id, 0x29u);
    EXPECT_EQ(o->external_backends[1].socket, "/run/vhost-device-gpio/dom%d.sock");
    // As for every key, the command line wins: its list replaces the file's.
    auto over = parse({"--config", cfg, "--external-backend", "virtio,device2 /srv/blk-%d.sock"});
    ASSERT_TRUE(over.has_value()) << over.error().message;
    ASSERT_EQ(over->external_backends.size(), 1u);
    EXPECT_EQ(over->external_backends[0].virtio_id, 2u);
}

TEST_F(DaemonOptions, ExternalBackendChecksTheRunDirectoryGiven) {
    auto o = parse({"--worker", worker, "--run-dir", dir + "/run/", "--external-backend",
                    "virtio,device22 " + dir + "/run/dom%d/i2c.sock"});
    ASSERT_FALSE(o.has_value());
    EXPECT_NE(o.error().message.find("run directory"), std::string::npos) << o.error().message;
    EXPECT_TRUE(parse({"--worker", worker, "--external-backend", "virtio,device22 " + dir + "/run/dom%d/i2c.sock"})
                    .has_value())
        << "under the default run directory it is not";
}

TEST_F(DaemonOptions, XenstoredPathSetsTheEnvironment) {
    ASSERT_TRUE(parse({"--worker", worker, "--xenstored-path", dir + "/xs.sock"}).has_value());
    ASSERT_NE(std::getenv("XENSTORED_PATH"), nullptr);
    EXPECT_EQ(std::string(std::getenv("XENSTORED_PATH")), dir + "/xs.sock");
    ::unsetenv("XENSTORED_PATH");
}

TEST_F(DaemonOptions, ErrorsAreOneClearLine) {
    struct Case {
        std::vector<std::string> args;
        const char* reason;
    };
    std::vector<Case> cases = {
        {{"--bogus"}, "bogus"},
        {{"--worker", worker, "--run-dir", "run"}, "absolute"},
        {{"--worker", dir + "/missing"}, "not executable"},
        {{"--worker", worker, "--log-level", "chatty"}, "chatty"},
        {{"--worker", worker, "--max-restarts", "lots"}, "max-restarts"},
        {{"--worker", worker, "--restart-window", "0"}, "restart-window"},
        {{"--worker", worker, "--restart-backoff", "900", "--restart-backoff-max", "100"}, "restart-backoff"},
        {{"--worker", worker, "--config", dir + "/none.conf"}, "none.conf"},
        {{"--worker", worker, "--config", config("unknown-key = 1\n")}, "unknown-key"},
        {{"--worker", worker, "--config", config("this is not an option line\n")}, "this is not"},
        {{"--worker"}, "worker"},
        {{"--worker", worker, "--external-backend", "virtio,device22 dom%d.sock"}, "absolute"},
        {{"--worker", worker, "--external-backend", "virtio,device22 /run/%x.sock"}, "'%x'"},
        {{"--worker", worker, "--external-backend", "i2c /run/%d.sock"}, "not a virtio device type"},
        {{"--worker", worker, "--external-backend", "virtio,device22"}, "SOCKET"},
        {{"--worker", worker, "--config", config("external-backend = virtio,device22 /a/%d\n"
                                                 "external-backend = virtio,device22 /b/%d\n")},
         "configured twice"},
    };
    for (auto& c : cases) {
        auto o = parse(c.args);
        ASSERT_FALSE(o.has_value()) << c.args.back();
        EXPECT_EQ(o.error().message.find('\n'), std::string::npos);
        EXPECT_NE(o.error().message.find(c.reason), std::string::npos) << o.error().message;
    }
}

}  // namespace
}  // namespace xenvhost::daemon
