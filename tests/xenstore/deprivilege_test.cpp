// Deprivileged workers: each guest's worker, started by xenvhostd, runs as
// the uid of its range (not root, not another guest's), without capabilities,
// with no_new_privs and a seccomp filter, and still serves its guest; a
// restart gets the same uid; without a user, root is refused unless the
// configuration allows it; and a compromised worker gets nothing else.

#include "base/unique_fd.hpp"
#include "tests/xenstore/fixture.hpp"
#include "frontend/test_env.hpp"
#include "tests/xenstore/proc_status.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>

namespace xenvhost::xstest {
namespace {

// A TCP listener on the host's 127.0.0.1 and one on its abstract unix
// namespace, non-blocking: what a worker could reach over the network.
struct HostListeners {
    UniqueFd tcp, unix_abstract;
    uint16_t tcp_port = 0;
    std::string abstract_name = fmt::format("xenvhost-escape-test-{}", ::getpid());

    HostListeners() {
        tcp.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof in;
        if (!tcp || ::bind(tcp.get(), reinterpret_cast<sockaddr*>(&in), sizeof in) < 0 || ::listen(tcp.get(), 8) < 0 ||
            ::getsockname(tcp.get(), reinterpret_cast<sockaddr*>(&in), &len) < 0)
            tcp.reset();
        else
            tcp_port = ntohs(in.sin_port);
        unix_abstract.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        std::memcpy(un.sun_path + 1, abstract_name.data(), abstract_name.size());
        auto ulen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract_name.size());
        if (!unix_abstract || ::bind(unix_abstract.get(), reinterpret_cast<sockaddr*>(&un), ulen) < 0 ||
            ::listen(unix_abstract.get(), 8) < 0)
            unix_abstract.reset();
    }
    bool ok() const { return tcp && unix_abstract; }
    // Connections that reached either listener.
    int accepted() const {
        int n = 0;
        for (int fd : {tcp.get(), unix_abstract.get()})
            for (int c; (c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC)) >= 0; ++n) ::close(c);
        return n;
    }
};

class Deprivilege : public XenstoreLevel {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root: the uid drop is real";
        XenstoreLevel::SetUp();
    }

    // Checks the worker behind `dir` is deprivileged as dom`domid`'s worker.
    void expect_deprivileged(const std::string& dir, unsigned domid) { expect_sandboxed(worker_pid(dir), domid); }
};

TEST_F(Deprivilege, EachGuestsWorkerRunsAsItsOwnUidWithoutPrivilegeAndServesIo) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    XS_ASSERT_OK(env->create_domain(6, "guest6"));
    std::string img5 = image("g5.img"), img6 = image("g6.img");
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, img5)));
    XS_ASSERT_OK(env->write_tree(disk(6, kXvda, img6)));
    std::string dir5 = be("virtio_disk", 5, kXvda), dir6 = be("virtio_disk", 6, kXvda);
    ASSERT_TRUE(wait_state(dir5, "2"));
    ASSERT_TRUE(wait_state(dir6, "2"));
    expect_deprivileged(dir5, 5);
    expect_deprivileged(dir6, 6);
    EXPECT_NE(first_word(proc_status(worker_pid(dir5))["Uid"]), first_word(proc_status(worker_pid(dir6))["Uid"]));
    // Its view of the file system is an empty root.
    std::error_code ec;
    auto root = std::filesystem::directory_iterator(fmt::format("/proc/{}/root/", worker_pid(dir5)), ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(root, std::filesystem::directory_iterator());
    expect_io(socket("virtio_disk", 5, kXvda), img5, 8);
    expect_io(socket("virtio_disk", 6, kXvda), img6, 16);

    // A second disk added later comes as fds from the daemon, to the same worker.
    std::string img5b = image("g5b.img");
    XS_ASSERT_OK(env->write_tree(disk(5, kXvdb, img5b)));
    std::string dir5b = be("virtio_disk", 5, kXvdb);
    ASSERT_TRUE(wait_state(dir5b, "2"));
    EXPECT_EQ(worker_pid(dir5b), worker_pid(dir5));
    expect_io(socket("virtio_disk", 5, kXvdb), img5b, 24);
}

// On tmpfs the worker copies in its queue thread (preadv2/pwritev2, not
// io_uring): those calls must pass its filter too.
TEST_F(Deprivilege, AnImageOnTmpfsIsServedUnderTheFilter) {
    auto shm = frontend::TempDir::create("xenvhost-deprivilege-", "/dev/shm");
    ASSERT_TRUE(shm) << shm.error().message;
    std::string img = shm->file("g5.img");
    XS_ASSERT_OK(make_image(img, 8 << 20, 7));
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, img)));
    std::string dir = be("virtio_disk", 5, kXvda);
    ASSERT_TRUE(wait_state(dir, "2"));
    expect_deprivileged(dir, 5);
    expect_io(socket("virtio_disk", 5, kXvda), img, 8);
    const pid_t pid = worker_pid(dir);
    EXPECT_EQ(::kill(pid, 0), 0) << "the worker died serving the tmpfs image";
}

TEST_F(Deprivilege, ARestartedWorkerGetsTheSameUid) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    std::string img = image("g5.img");
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, img)));
    std::string dir = be("virtio_disk", 5, kXvda);
    ASSERT_TRUE(wait_state(dir, "2"));
    pid_t first = worker_pid(dir);
    ASSERT_EQ(::kill(first, SIGKILL), 0);
    ASSERT_TRUE(env->wait_value(dir + "/xenvhost-restarts", "1", kWaitMs));
    ASSERT_TRUE(env->wait_until(dir, [&] { return worker_pid(dir) != first && pid_alive(worker_pid(dir)); }, kWaitMs));
    expect_deprivileged(dir, 5);
    expect_io(socket("virtio_disk", 5, kXvda), img, 8);
}

TEST_F(Deprivilege, WithoutAUserRootIsRefusedAndTheStatusKeySaysWhy) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    std::string img = image("g5.img");
    start_daemon({"--guest-uid-range-base", "xenvhost-test-no-such-user", "--guest-user", "xenvhost-test-no-such-user"});
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, img)));
    std::string dir = be("virtio_disk", 5, kXvda);
    ASSERT_TRUE(wait_error(dir));
    auto why = env->read(dir + "/xenvhost-error").value_or("");
    EXPECT_NE(why.find("refusing to start its worker as root"), std::string::npos) << why;
    EXPECT_NE(why.find("run-as-root"), std::string::npos) << why;
}

TEST_F(Deprivilege, RunAsRootWhenTheConfigurationSaysSo) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    std::string img = image("g5.img");
    start_daemon({"--guest-uid-range-base", "xenvhost-test-no-such-user", "--guest-user", "xenvhost-test-no-such-user",
                  "--run-as-root", "yes"});
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, img)));
    std::string dir = be("virtio_disk", 5, kXvda);
    ASSERT_TRUE(wait_state(dir, "2"));
    EXPECT_EQ(first_word(proc_status(worker_pid(dir))["Uid"]), "0");
    expect_io(socket("virtio_disk", 5, kXvda), img, 8);
}

TEST_F(Deprivilege, ACompromisedWorkerGetsNothingElse) {
    XS_ASSERT_OK(env->create_domain(5, "victim"));
    XS_ASSERT_OK(env->create_domain(6, "attacker"));
    std::string img5 = image("g5.img"), img6 = image("g6.img");
    // Listeners on the host's network a worker must not reach, even through io_uring.
    HostListeners host;
    ASSERT_TRUE(host.ok());
    start_daemon({"--worker", build_bin("xenvhost-worker-escape")},
                 {"XENVHOST_ESCAPE_DOMID=6", "XENVHOST_ESCAPE_VICTIM_DOMID=5",
                  "XENVHOST_ESCAPE_VICTIM_PIDFILE=" + env->run_dir() + "/dom5/worker.pid",
                  "XENVHOST_ESCAPE_VICTIM_IMAGE=" + img5, "XENVHOST_ESCAPE_TCP_PORT=" + std::to_string(host.tcp_port),
                  "XENVHOST_ESCAPE_ABSTRACT=" + host.abstract_name});
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, img5)));
    std::string dir5 = be("virtio_disk", 5, kXvda), dir6 = be("virtio_disk", 6, kXvda);
    ASSERT_TRUE(wait_state(dir5, "2"));
    pid_t victim = worker_pid(dir5);
    XS_ASSERT_OK(env->write_tree(disk(6, kXvda, img6)));
    ASSERT_TRUE(wait_state(dir6, "2"));
    expect_deprivileged(dir6, 6);

    std::string log = daemon->log();
    for (auto attempt : {"open /dev/xen/privcmd", "open /dev/xen/gntdev", "open another guest's image",
                         "signal another guest's worker", "ptrace another guest's worker", "create a socket",
                         "open another guest's image through io_uring", "open /dev/xen/privcmd through io_uring",
                         "connect to the host's loopback through io_uring",
                         "connect to an abstract unix socket through io_uring", "exec a shell"})
        EXPECT_NE(log.find(fmt::format("escape: {}: refused", attempt)), std::string::npos) << attempt;
    EXPECT_NE(log.find("escape: done"), std::string::npos);
    EXPECT_EQ(log.find("SUCCEEDED"), std::string::npos);
    EXPECT_EQ(host.accepted(), 0) << "a connection reached the host's listeners";
    // The victim is untouched, and both guests are still served.
    EXPECT_EQ(worker_pid(dir5), victim);
    EXPECT_TRUE(pid_alive(victim));
    expect_io(socket("virtio_disk", 5, kXvda), img5, 8);
    expect_io(socket("virtio_disk", 6, kXvda), img6, 8);
    if (HasFailure()) std::cerr << log;
}

}  // namespace
}  // namespace xenvhost::xstest
