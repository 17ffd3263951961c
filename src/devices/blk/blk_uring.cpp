#include "devices/blk/blk_uring.hpp"

#include "base/eventfd.hpp"

namespace xenvhost::devices::blk {

Result<std::unique_ptr<Uring>> Uring::create(unsigned entries) {
    auto u = std::make_unique<Uring>(Private{});
    int rc = io_uring_queue_init(entries, &u->ring_, 0);
    if (rc < 0) {
        errno = -rc;
        return fail_errno("io_uring_queue_init({})", entries);
    }
    u->live_ = true;
    // NODROP (5.5+) keeps completions when the CQ overflows instead of losing them.
    if (!(u->ring_.features & IORING_FEAT_NODROP))
        return fail("io_uring: the kernel lacks IORING_FEAT_NODROP (Linux 5.5 or later needed)");
    auto efd = make_eventfd();
    if (!efd) return std::unexpected(efd.error());
    u->efd_ = std::move(*efd);
    rc = io_uring_register_eventfd(&u->ring_, u->efd_.get());
    if (rc < 0) {
        errno = -rc;
        return fail_errno("io_uring_register_eventfd");
    }
    return u;
}

Uring::~Uring() {
    if (live_) io_uring_queue_exit(&ring_);
}

}  // namespace xenvhost::devices::blk
