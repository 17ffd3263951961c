// Serving: state 2 and the socket published, I/O through it, status keys,
// two disks sharing one worker, generic virtio devices, bad entries.

#include "frontend/blk_session.hpp"
#include "tests/xenstore/fixture.hpp"

#include <sys/stat.h>

#include <filesystem>

namespace xenvhost::xstest {
namespace {

TEST_F(XenstoreLevel, DiskReachesInitWaitWithSocketAndServesIo) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    std::string img = image("g5.img");
    start_daemon();
    std::string dir = be("virtio_disk", 5, kXvda);
    // The daemon is up once it answers a malformed directory with an error key.
    XS_ASSERT_OK(env->xs().write("/local/domain/0/backend/virtio_disk/1/probe/state", "1"));
    ASSERT_TRUE(wait_error("/local/domain/0/backend/virtio_disk/1/probe"));
    auto t0 = Clock::now();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, img)));
    ASSERT_TRUE(wait_state(dir, "2"));
    std::printf("one disk, new guest: device dir -> state 2 in %.1f ms (worker started on the way)\n",
                std::chrono::duration<double, std::milli>(Clock::now() - t0).count());

    std::string sock = socket("virtio_disk", 5, kXvda);
    EXPECT_EQ(env->read(dir + "/vhost-user-socket"), sock);
    EXPECT_EQ(sock[0], '/');
    struct stat st{};
    ASSERT_EQ(::lstat(sock.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_TRUE(pid_alive(worker_pid(dir)));
    EXPECT_EQ(env->read(dir + "/xenvhost-restarts"), "0");
    EXPECT_EQ(env->read(dir + "/xenvhost-connected"), "0");
    EXPECT_FALSE(env->read(dir + "/xenvhost-error").has_value());
    // The guest may read its backend directory, and no more than that.
    for (auto key : {"vhost-user-socket", "xenvhost-worker-pid", "xenvhost-connected", "state"}) {
        auto perms = env->xs().get_permissions(dir + "/" + key);
        ASSERT_TRUE(perms.has_value());
        std::string text;
        for (auto& p : *perms) text += xen::format_permission(p) + " ";
        EXPECT_EQ(text, "n0 r5 ") << key;
    }

    {
        SCOPED_TRACE("front-end I/O");
        expect_io(sock, img, 64);
    }
    // The mapping key names how the worker maps this guest's memory (a plain
    // front-end passes memfds: mmap), or none until it has a memory table.
    auto mapping = env->read(dir + "/xenvhost-mapping").value_or("(missing)");
    EXPECT_TRUE(mapping == "mmap" || mapping == "none") << mapping;
    EXPECT_TRUE(env->wait_value(dir + "/xenvhost-connected", "0", kWaitMs)) << "disconnect not published";
    EXPECT_EQ(env->read(dir + "/state"), "2") << "the backend must stay at InitWait";
}

TEST_F(XenstoreLevel, ConnectedKeyFollowsTheFrontEnd) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    std::string img = image("g5.img");
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, img)));
    std::string dir = be("virtio_disk", 5, kXvda);
    ASSERT_TRUE(wait_state(dir, "2"));
    frontend::SessionOptions opts;
    opts.memory_size = 16 << 20;
    auto s = frontend::BlkSession::connect(socket("virtio_disk", 5, kXvda), opts);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    ASSERT_TRUE((*s)->start().has_value());
    EXPECT_TRUE(env->wait_value(dir + "/xenvhost-connected", "1", kWaitMs));
    // A plain (non-Xen) front-end's memory table makes the worker mmap the regions.
    EXPECT_TRUE(env->wait_value(dir + "/xenvhost-mapping", "mmap", kWaitMs))
        << "mapping " << env->read(dir + "/xenvhost-mapping").value_or("(missing)");
    s->reset();
    EXPECT_TRUE(env->wait_value(dir + "/xenvhost-connected", "0", kWaitMs));
}

TEST_F(XenstoreLevel, TwoDisksOfOneGuestShareOneWorker) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    XS_ASSERT_OK(env->create_domain(6, "guest6"));
    std::string a = image("a.img"), b = image("b.img"), c = image("c.img");
    start_daemon();
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, a)));
    XS_ASSERT_OK(env->write_tree(disk(5, kXvdb, b, "r", "1")));
    XS_ASSERT_OK(env->write_tree(disk(6, kXvda, c)));
    ASSERT_TRUE(wait_state(be("virtio_disk", 5, kXvda), "2"));
    ASSERT_TRUE(wait_state(be("virtio_disk", 5, kXvdb), "2"));
    ASSERT_TRUE(wait_state(be("virtio_disk", 6, kXvda), "2"));
    pid_t w5a = worker_pid(be("virtio_disk", 5, kXvda));
    pid_t w5b = worker_pid(be("virtio_disk", 5, kXvdb));
    pid_t w6 = worker_pid(be("virtio_disk", 6, kXvda));
    EXPECT_EQ(w5a, w5b) << "one worker per guest";
    EXPECT_NE(w5a, w6) << "guests do not share workers";
    EXPECT_TRUE(pid_alive(w5a));
    EXPECT_TRUE(pid_alive(w6));
    expect_io(socket("virtio_disk", 5, kXvda), a, 8);
    expect_io(socket("virtio_disk", 6, kXvda), c, 8);
    // The read-only disk refuses writes.
    frontend::SessionOptions opts;
    opts.memory_size = 16 << 20;
    auto s = frontend::BlkSession::connect(socket("virtio_disk", 5, kXvdb), opts);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    ASSERT_TRUE((*s)->start().has_value());
    std::vector<uint8_t> data(512, 0xaa);
    EXPECT_FALSE((*s)->blk(0).write(0, data).has_value()) << "mode=r disk accepted a write";
}

TEST_F(XenstoreLevel, GenericVirtioBlockDevice) {
    XS_ASSERT_OK(env->create_domain(7, "guest7"));
    std::string img = image("v.img");
    start_daemon();
    XS_ASSERT_OK(env->write_tree(virtio(7, 0, "virtio,device2", img)));
    std::string dir = be("virtio", 7, 0);
    ASSERT_TRUE(wait_state(dir, "2"));
    EXPECT_EQ(env->read(dir + "/vhost-user-socket"), socket("virtio", 7, 0));
    expect_io(socket("virtio", 7, 0), img, 16);
}

TEST_F(XenstoreLevel, BadEntriesGetAnErrorKeyAndOthersAreStillServed) {
    XS_ASSERT_OK(env->create_domain(5, "guest5"));
    XS_ASSERT_OK(env->create_domain(6, "guest6"));
    std::string good = image("good.img"), good2 = image("good2.img");
    start_daemon();

    struct Bad {
        const char* what;
        Tree tree;
        std::string dir;
        std::string reason_part;
    };
    std::vector<Bad> bad;
    bad.push_back({"unknown virtio type", virtio(5, 1, "virtio,device22", good), be("virtio", 5, 1), "virtio,device22"});
    bad.push_back({"missing image", disk(5, 100, env->dir() + "/no-such.img"), be("virtio_disk", 5, 100), "no-such.img"});
    bad.push_back({"image is a directory", disk(5, 101, env->dir()), be("virtio_disk", 5, 101), "not a regular file"});
    bad.push_back({"bad mode", disk(5, 102, good, "x"), be("virtio_disk", 5, 102), "mode 'x'"});
    {
        Tree t = disk(5, 103, good);
        t.set("/backend/", "base", "0xzz");
        bad.push_back({"garbage base", t, be("virtio_disk", 5, 103), "base"});
    }
    {
        Tree t = disk(5, 104, good);
        t.set("/backend/", "frontend-id", "five");
        bad.push_back({"garbage frontend-id", t, be("virtio_disk", 5, 104), "frontend-id"});
    }
    {
        Tree t = disk(5, 105, good);
        t.set("/backend/", "type", "phy");
        bad.push_back({"disk type not standalone", t, be("virtio_disk", 5, 105), "phy"});
    }
    {
        Tree t = disk(5, 106, good, "w", "2");
        bad.push_back({"garbage grant_usage", t, be("virtio_disk", 5, 106), "grant_usage"});
    }
    bad.push_back({"virtio,device2 without params", virtio(5, 2, "virtio,device2", std::nullopt), be("virtio", 5, 2), "params"});
    {
        Tree t = disk(5, 107, good);
        t.set("/backend/", "params", "relative.img");
        bad.push_back({"relative image path", t, be("virtio_disk", 5, 107), "absolute"});
    }
    {
        Tree t = virtio(5, 3, "virtio,devicezz", good);
        bad.push_back({"garbage device number", t, be("virtio", 5, 3), "devicezz"});
    }
    for (auto& b : bad) XS_ASSERT_OK(env->write_tree(b.tree));
    // A directory whose devid is not a number.
    std::string garbage_dir = "/local/domain/0/backend/virtio_disk/5/xyz";
    XS_ASSERT_OK(env->xs().write(garbage_dir + "/state", "1"));
    XS_ASSERT_OK(env->xs().write(garbage_dir + "/online", "1"));
    // Good devices, written after the bad ones, in the same guest and another.
    XS_ASSERT_OK(env->write_tree(disk(5, kXvda, good)));
    XS_ASSERT_OK(env->write_tree(disk(6, kXvda, good2)));

    ASSERT_TRUE(wait_state(be("virtio_disk", 5, kXvda), "2"));
    ASSERT_TRUE(wait_state(be("virtio_disk", 6, kXvda), "2"));
    for (auto& b : bad) {
        SCOPED_TRACE(b.what);
        ASSERT_TRUE(wait_error(b.dir)) << b.dir;
        auto reason = env->read(b.dir + "/xenvhost-error").value_or("");
        EXPECT_NE(reason.find(b.reason_part), std::string::npos) << "reason: " << reason;
        EXPECT_EQ(env->read(b.dir + "/state"), "1") << "a device that cannot be served must not reach InitWait";
        EXPECT_FALSE(env->read(b.dir + "/vhost-user-socket").has_value());
    }
    ASSERT_TRUE(wait_error(garbage_dir));
    EXPECT_NE(env->read(garbage_dir + "/xenvhost-error").value_or("").find("devid"), std::string::npos);
    expect_io(socket("virtio_disk", 5, kXvda), good, 32);

    // Fixing a failed entry (the operator adds params) gets it served.
    XS_ASSERT_OK(env->xs().write(be("virtio", 5, 2) + "/params", good2));
    EXPECT_TRUE(wait_state(be("virtio", 5, 2), "2"));
    EXPECT_FALSE(env->read(be("virtio", 5, 2) + "/xenvhost-error").has_value());
    // And the daemon is still running after all that.
    EXPECT_TRUE(daemon->process().alive());
}

}  // namespace
}  // namespace xenvhost::xstest
