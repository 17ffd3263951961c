#include "devices/blk/blk_uring.hpp"

#include "base/eventfd.hpp"

#include <vector>

namespace xenvhost::devices::blk {

namespace {

// What the block data path submits (blk_queue.cpp); nothing else may run on
// its rings, and no SQE flag is used.
constexpr uint8_t kBlockOps[] = {IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE};

}  // namespace

std::span<const uint8_t> Uring::allowed_ops() { return kBlockOps; }

Result<std::unique_ptr<Uring>> Uring::create(unsigned entries) {
    auto u = std::make_unique<Uring>(Private{});
    // Created disabled so its restrictions are in place before it runs
    // anything: an SQE corrupted through guest-controlled data can then be
    // only a read, write, sync or fallocate of the image, never an openat,
    // socket or connect, which io_uring would run past the syscall filter.
    int rc = io_uring_queue_init(entries, &u->ring_, IORING_SETUP_R_DISABLED);
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
    // Registered while the ring is disabled: once enabled, no register
    // operation is allowed on it.
    rc = io_uring_register_eventfd(&u->ring_, u->efd_.get());
    if (rc < 0) {
        errno = -rc;
        return fail_errno("io_uring_register_eventfd");
    }
    std::vector<io_uring_restriction> rules;
    for (uint8_t op : kBlockOps) {
        io_uring_restriction r{};
        r.opcode = IORING_RESTRICTION_SQE_OP;
        r.sqe_op = op;
        rules.push_back(r);
    }
    io_uring_restriction flags{};
    flags.opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
    flags.sqe_flags = 0;
    rules.push_back(flags);
    // The raw register call: Debian 12's liburing 2.3 declares
    // io_uring_register_restrictions and io_uring_enable_rings but does not export them.
    const int fd = u->ring_.ring_fd;
    rc = io_uring_register(fd, IORING_REGISTER_RESTRICTIONS, rules.data(), static_cast<unsigned>(rules.size()));
    if (rc < 0) {
        errno = -rc;
        return fail_errno("io_uring_register_restrictions");
    }
    rc = io_uring_register(fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
    if (rc < 0) {
        errno = -rc;
        return fail_errno("io_uring_enable_rings");
    }
    return u;
}

Uring::~Uring() {
    if (live_) io_uring_queue_exit(&ring_);
}

}  // namespace xenvhost::devices::blk
