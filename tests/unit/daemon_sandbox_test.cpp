// The daemon's side of a guest's sandbox: the identity its worker and its
// device model share, the arguments each is started with, and the refusal
// to start either as root unless the configuration allows it.

#include "daemon/guest_sandbox.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

using namespace xenvhost;
using namespace xenvhost::daemon;

namespace {

class DaemonSandbox : public ::testing::Test {
protected:
    void SetUp() override {
        // Not root: the daemon has nothing to give away and passes no arguments (checked below).
        char tmpl[] = "/tmp/xenvhost-sandbox-test.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        options_.identity = {"3900000000", "", false};
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string dir_;
    Options options_;
};

TEST_F(DaemonSandbox, WorkerAndDeviceModelShareTheGuestsIdentity) {
    auto worker = sandbox_arguments(options_, 5, "worker", dir_ + "/root");
    auto model = sandbox_arguments(options_, 5, "device model", dir_ + "/dm-root");
    ASSERT_TRUE(worker) << worker.error().message;
    ASSERT_TRUE(model) << model.error().message;
    if (::geteuid() != 0) {
        EXPECT_TRUE(worker->empty() && model->empty());
        GTEST_SKIP() << "not root: no identity to pass";
    }
    EXPECT_EQ(*worker, (std::vector<std::string>{"--sandbox-user", "3900000005:3900000005", "--sandbox-root",
                                                 dir_ + "/root"}));
    EXPECT_EQ(*model, (std::vector<std::string>{"--sandbox-user", "3900000005:3900000005", "--sandbox-root",
                                                dir_ + "/dm-root"}));
    struct stat st{};
    ASSERT_EQ(::stat((dir_ + "/dm-root").c_str(), &st), 0) << "the mount point is made";
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    auto other = sandbox_arguments(options_, 6, "device model", dir_ + "/dm-root");
    ASSERT_TRUE(other);
    EXPECT_EQ((*other)[1], "3900000006:3900000006") << "another guest, another identity";
}

TEST_F(DaemonSandbox, RootIsRefusedUnlessTheConfigurationSaysSo) {
    if (::geteuid() != 0) GTEST_SKIP() << "not root: nothing is refused";
    options_.identity = {"xenvhost-test-no-such-user", "xenvhost-test-no-such-user", false};
    auto refused = sandbox_arguments(options_, 5, "device model", dir_ + "/dm-root");
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("dom5: refusing to start its device model as root"), std::string::npos)
        << refused.error().message;
    EXPECT_NE(refused.error().message.find("run-as-root"), std::string::npos) << refused.error().message;
    options_.identity.run_as_root = true;
    auto allowed = sandbox_arguments(options_, 5, "device model", dir_ + "/dm-root");
    ASSERT_TRUE(allowed) << allowed.error().message;
    EXPECT_TRUE(allowed->empty());
}

TEST_F(DaemonSandbox, TheGuestsDirectoryIsItsGroupsAndItsSocketsItsOwn) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
    const sandbox::Identity who{3900000005u, 3900000005u};
    const std::string home = dir_ + "/dom5", sock = home + "/d.sock";
    ASSERT_EQ(::mkdir(home.c_str(), 0700), 0);
    ASSERT_EQ(::mknod(sock.c_str(), S_IFREG | 0755, 0), 0);  // the path is what matters, not the kind
    ASSERT_TRUE(give_guest_directory(home, who));
    ASSERT_TRUE(give_guest_socket(sock, who));
    struct stat st{};
    ASSERT_EQ(::stat(home.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_gid, who.gid);
    EXPECT_EQ(st.st_mode & 0777, 0750u);
    ASSERT_EQ(::stat(sock.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, who.uid);
    EXPECT_EQ(st.st_gid, who.gid);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // Without an identity (the guest's processes run as root) nothing changes; a missing path is an error.
    EXPECT_TRUE(give_guest_socket(home + "/missing", std::nullopt));
    EXPECT_FALSE(give_guest_socket(home + "/missing", who));
}

}  // namespace
