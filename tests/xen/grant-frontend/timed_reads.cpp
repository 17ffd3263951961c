#include "timed_reads.hpp"

#include "frontend/test_env.hpp"

#include <time.h>

#include <algorithm>

namespace xenvhost::grantfe {

namespace fe = frontend;

namespace {

double now_s() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

Result<LoopResult> timed_reads(fe::BlkQueue& blk, const ReadLoop& loop, const std::string& image) {
    const uint64_t step = loop.len / fe::kSectorSize;
    if (loop.len == 0 || loop.len % fe::kSectorSize || step > loop.sectors)
        return fail("read loop: {} bytes do not fit the area of {} sectors", loop.len, loop.sectors);
    blk.set_segment_size(loop.segment);
    const unsigned depth = std::min(loop.depth, blk.depth());
    LoopResult res;
    uint64_t next = 0;
    bool verified = false;
    const double start = now_s(), end = start + loop.seconds;
    bool submitting = true;
    while (submitting || blk.in_flight() > 0) {
        while (submitting && blk.in_flight() < depth) {
            auto cmd = fe::BlkCommand::in(loop.first_sector + next * step, loop.len);
            cmd.tag = cmd.sector;
            auto s = blk.submit(cmd);
            if (!s) return std::unexpected(s.error());
            next = (next + 1) % (loop.sectors / step);
        }
        blk.flush();
        auto done = blk.poll(10000, 1);
        if (!done) return std::unexpected(done.error());
        if (done->empty()) return fail("read loop: no completion within 10 s ({} in flight)", blk.in_flight());
        for (const auto& c : *done) {
            if (c.status != VIRTIO_BLK_S_OK)
                return fail("read loop: request {} completed with {}", res.requests, fe::blk_status_name(c.status));
            if (c.used_len != loop.len + 1)
                return fail("read loop: used length {}, expected {}", c.used_len, loop.len + 1);
            if (!verified) {
                auto got = blk.data(c);
                if (!got) return std::unexpected(got.error());
                auto want = fe::pread_file(image, c.tag * fe::kSectorSize, loop.len);
                if (!want) return std::unexpected(want.error());
                if (*got != *want) return fail("read loop: the read of sector {} differs from the image", c.tag);
                verified = true;
            }
            ++res.requests;
        }
        if (now_s() >= end) submitting = false;
    }
    res.seconds = now_s() - start;
    blk.set_segment_size(0);
    return res;
}

}  // namespace xenvhost::grantfe
