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
