// The block data path's io_uring runs only its own operations: anything else
// an SQE might be turned into (by a bug, or by guest-controlled data) is
// refused by the kernel with -EACCES.

#include "devices/blk/blk_uring.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace xenvhost::devices::blk {
namespace {

int run_one(Uring& ring, void (*prep)(io_uring_sqe*, void*), void* arg) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring.get());
    if (!sqe) return -ENOSPC;
    prep(sqe, arg);
    int rc = io_uring_submit_and_wait(ring.get(), 1);
    if (rc < 0) return rc;
    io_uring_cqe* cqe = nullptr;
    if (int w = io_uring_wait_cqe(ring.get(), &cqe); w < 0) return w;
    int res = cqe->res;
    io_uring_cqe_seen(ring.get(), cqe);
    return res;
}

struct TempFile {
    std::string path;
    int fd = -1;
    TempFile() {
        char name[] = "/tmp/xenvhost-uring-XXXXXX";
        fd = ::mkstemp(name);
        path = name;
    }
    ~TempFile() {
        if (fd >= 0) ::close(fd);
        ::unlink(path.c_str());
    }
};

TEST(BlkUring, RunsTheBlockOperations) {
    auto ring = Uring::create(8);
    ASSERT_TRUE(ring) << ring.error().message;
    TempFile f;
    ASSERT_GE(f.fd, 0);
    struct Arg {
        int fd;
        iovec iov;
    };
    char data[] = "abcd";
    Arg a{f.fd, {data, 4}};
    EXPECT_EQ(run_one(**ring, [](io_uring_sqe* s, void* p) {
        auto* x = static_cast<Arg*>(p);
        io_uring_prep_writev(s, x->fd, &x->iov, 1, 0);
    }, &a), 4);
    EXPECT_EQ(run_one(**ring, [](io_uring_sqe* s, void* p) {
        io_uring_prep_fsync(s, static_cast<Arg*>(p)->fd, IORING_FSYNC_DATASYNC);
    }, &a), 0);
    char back[4] = {};
    a.iov = {back, 4};
    EXPECT_EQ(run_one(**ring, [](io_uring_sqe* s, void* p) {
        auto* x = static_cast<Arg*>(p);
        io_uring_prep_readv(s, x->fd, &x->iov, 1, 0);
    }, &a), 4);
    EXPECT_EQ(std::string(back, 4), "abcd");
}

TEST(BlkUring, RefusesEveryOtherOperation) {
    auto ring = Uring::create(8);
    ASSERT_TRUE(ring) << ring.error().message;
    TempFile f;
    ASSERT_GE(f.fd, 0);
    // What would take a process past its syscall filter: open a path, make a socket.
    EXPECT_EQ(run_one(**ring, [](io_uring_sqe* s, void* p) {
        io_uring_prep_openat(s, AT_FDCWD, static_cast<TempFile*>(p)->path.c_str(), O_RDONLY, 0);
    }, &f), -EACCES);
    EXPECT_EQ(run_one(**ring, [](io_uring_sqe* s, void*) {
        io_uring_prep_socket(s, AF_INET, SOCK_STREAM, 0, 0);
    }, nullptr), -EACCES);
    EXPECT_EQ(run_one(**ring, [](io_uring_sqe* s, void*) { io_uring_prep_nop(s); }, nullptr), -EACCES);
    // An allowed operation with an SQE flag (here: forced async) is refused too.
    char byte = 0;
    struct Arg {
        int fd;
        iovec iov;
    } a{f.fd, {&byte, 1}};
    EXPECT_EQ(run_one(**ring, [](io_uring_sqe* s, void* p) {
        auto* x = static_cast<Arg*>(p);
        io_uring_prep_readv(s, x->fd, &x->iov, 1, 0);
        io_uring_sqe_set_flags(s, IOSQE_ASYNC);
    }, &a), -EACCES);
    // No register operation once the ring runs.
    EXPECT_EQ(io_uring_unregister_eventfd((*ring)->get()), -EACCES);
}

}  // namespace
}  // namespace xenvhost::devices::blk
