#pragma once
// Owning io_uring instance with an eventfd that becomes readable whenever a
// completion is posted. Its operations are restricted to the block data
// path's (allowed_ops()); any other SQE completes with -EACCES.

#include "base/error.hpp"
#include "base/unique_fd.hpp"

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <span>

namespace xenvhost::devices::blk {

class Uring {
public:
    static Result<std::unique_ptr<Uring>> create(unsigned entries);
    static std::span<const uint8_t> allowed_ops();
    ~Uring();
    Uring(const Uring&) = delete;
    Uring& operator=(const Uring&) = delete;

    io_uring* get() { return &ring_; }
    int event_fd() const { return efd_.get(); }

private:
    struct Private {};

public:
    explicit Uring(Private) {}

private:
    io_uring ring_{};
    bool live_ = false;
    UniqueFd efd_;
};

}  // namespace xenvhost::devices::blk
