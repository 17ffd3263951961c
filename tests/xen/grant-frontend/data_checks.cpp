#include "data_checks.hpp"

#include "frontend/test_env.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <functional>
#include <vector>

namespace xenvhost::grantfe {

namespace fe = frontend;

namespace {

constexpr uint32_t kSector = fe::kSectorSize;

// Where two byte strings first differ, for the failure message.
std::string first_difference(std::span<const uint8_t> got, std::span<const uint8_t> want) {
    if (got.size() != want.size()) return fmt::format("{} bytes instead of {}", got.size(), want.size());
    auto [g, w] = std::mismatch(got.begin(), got.end(), want.begin());
    if (g == got.end()) return "equal";
    return fmt::format("byte {} is {:#04x}, expected {:#04x}", g - got.begin(), *g, *w);
}

Result<void> expect_equal(std::span<const uint8_t> got, std::span<const uint8_t> want, const std::string& what) {
    if (got.size() == want.size() && std::equal(got.begin(), got.end(), want.begin())) return {};
    return fail("{}: {}", what, first_difference(got, want));
}

Result<void> expect_image(const std::string& image, uint64_t sector, std::span<const uint8_t> want,
                          const std::string& what) {
    auto img = fe::pread_file(image, sector * kSector, want.size());
    if (!img) return std::unexpected(img.error());
    return expect_equal(*img, want, what + " (image file)");
}

Result<fe::BlkCompletion> expect_status(fe::BlkQueue& blk, const fe::BlkCommand& cmd, uint8_t want,
                                        const std::string& what, std::vector<uint8_t>* in = nullptr) {
    auto c = blk.run(cmd, in);
    if (!c) return fail("{}: {}", what, c.error().message);
    if (c->status != want)
        return fail("{}: status {} ({}), expected {}", what, c->status, fe::blk_status_name(c->status),
                    fe::blk_status_name(want));
    return c;
}

std::string refs_of(uint64_t gpa, uint64_t len, bool foreign) {
    const uint64_t first = gpa >> 12, last = (gpa + len - 1) >> 12;
    const char* what = foreign ? "frame" : "ref";
    return first == last ? fmt::format("{} {:#x}", what, first) : fmt::format("{}s {:#x}..{:#x}", what, first, last);
}

// What a descriptor carries for guest address `gpa`.
uint64_t descriptor_address(uint64_t gpa, bool foreign) {
    return foreign ? gpa : fe::grant_address(gpa >> 12, gpa & 0xfff);
}

}  // namespace

Result<std::string> check_write_flush_read(CheckEnv& env) {
    auto& blk = env.session.blk();
    constexpr uint32_t kLen = 64 * 1024;
    const auto data = fe::pattern(env.seed, kWriteSector * kSector, kLen);
    if (auto w = blk.write(kWriteSector, data); !w) return fail("write of {} bytes: {}", kLen, w.error().message);
    if (auto f = blk.flush_cache(); !f) return fail("flush: {}", f.error().message);
    auto back = blk.read(kWriteSector, kLen);
    if (!back) return fail("read back: {}", back.error().message);
    if (auto r = expect_equal(*back, data, "read back into the granted buffer"); !r) return std::unexpected(r.error());
    if (auto r = expect_image(env.image, kWriteSector, data, "written data"); !r) return std::unexpected(r.error());
    return fmt::format("{} KiB written at sector {}, flushed, read back: equal in the granted buffer and in the image",
                       kLen / 1024, kWriteSector);
}

Result<std::string> check_multi_page_buffer(CheckEnv& env) {
    auto& mem = env.pool.memory();
    auto& blk = env.session.blk();
    // 16 KiB starting 1 KiB into a page touches five pages; allocations never
    // leave a run, so the five refs are consecutive.
    constexpr uint32_t kLen = 16 * 1024;
    constexpr uint64_t kOutOffset = 1024, kInOffset = 512;
    auto out_pages = mem.alloc(5 * kXenPageSize, kXenPageSize);
    auto in_pages = mem.alloc(5 * kXenPageSize, kXenPageSize);
    if (!out_pages || !in_pages) return fail("no run of five consecutive refs left in the pool");
    const uint64_t out_gpa = *out_pages + kOutOffset, in_gpa = *in_pages + kInOffset;

    const auto data = fe::pattern(env.seed ^ 0x55, kMultiPageSector * kSector, kLen);
    auto out = fe::BlkCommand::out(kMultiPageSector, data);
    out.data_gpa = out_gpa;
    if (auto c = expect_status(blk, out, VIRTIO_BLK_S_OK, "multi-page write"); !c) return std::unexpected(c.error());
    if (auto f = blk.flush_cache(); !f) return fail("flush: {}", f.error().message);
    if (auto f = mem.fill(in_gpa, kLen, 0xa5); !f) return std::unexpected(f.error());
    auto in = fe::BlkCommand::in(kMultiPageSector, kLen);
    in.data_gpa = in_gpa;
    std::vector<uint8_t> got;
    auto c = expect_status(blk, in, VIRTIO_BLK_S_OK, "multi-page read", &got);
    if (!c) return std::unexpected(c.error());
    if (c->used_len != kLen + 1) return fail("multi-page read: used length {}, expected {}", c->used_len, kLen + 1);
    if (auto r = expect_equal(got, data, "multi-page read into the granted buffer"); !r)
        return std::unexpected(r.error());
    if (auto r = expect_image(env.image, kMultiPageSector, data, "multi-page write"); !r)
        return std::unexpected(r.error());
    return fmt::format(
        "{} KiB written from {:#x} ({}) and read into {:#x} ({}): equal in the buffer and in the image",
        kLen / 1024, descriptor_address(out_gpa, env.foreign), refs_of(out_gpa, kLen, env.foreign),
        descriptor_address(in_gpa, env.foreign), refs_of(in_gpa, kLen, env.foreign));
}

namespace {

// The frame of both bad-grant checks: a known pattern written at
// kRevokeSector, then `bad` sends requests that must each end in IOERR; the
// next read must succeed with the sector (and the image) unchanged, and the
// worker must have counted at least `failures` failed maps or grant copies.
// Returns what the worker counted.
Result<std::string> around_bad_requests(CheckEnv& env, uint64_t seed, uint64_t failures,
                                        const std::function<Result<void>()>& bad) {
    auto& blk = env.session.blk();
    constexpr uint32_t kLen = 4096;
    // What the sector holds before: a request with a bad grant must not change it.
    const auto before = fe::pattern(seed, kRevokeSector * kSector, kLen);
    if (auto w = blk.write(kRevokeSector, before); !w) return fail("write before: {}", w.error().message);
    if (auto f = blk.flush_cache(); !f) return fail("flush: {}", f.error().message);
    Counters start;
    if (env.worker.available()) {
        auto c = env.worker.read();
        if (!c) return std::unexpected(c.error());
        start = *c;
    }
    if (auto r = bad(); !r) return std::unexpected(r.error());

    // The queue goes on: the next request succeeds and the sector is intact.
    auto after = blk.read(kRevokeSector, kLen);
    if (!after) return fail("the request after the bad grants: {}", after.error().message);
    if (auto r = expect_equal(*after, before, "sector after the bad grants"); !r) return std::unexpected(r.error());
    if (auto r = expect_image(env.image, kRevokeSector, before, "sector after the bad grants"); !r)
        return std::unexpected(r.error());

    if (!env.worker.available()) return std::string("map failures not read (no control socket)");
    auto c = env.worker.read();
    if (!c) return std::unexpected(c.error());
    const Counters d = *c - start;
    if (d.map_failures + d.copy_failures < failures)
        return fail("the worker counted {} map and {} copy failure(s) for {} bad grant(s)", d.map_failures,
                    d.copy_failures, failures);
    return fmt::format("the worker counted {} map and {} copy failure(s)", d.map_failures, d.copy_failures);
}

Result<void> expect_ioerr(fe::BlkQueue& blk, const fe::BlkCommand& cmd, const std::string& what) {
    if (auto c = expect_status(blk, cmd, VIRTIO_BLK_S_IOERR, what); !c) return std::unexpected(c.error());
    return {};
}

fe::BlkCommand into_ref(uint32_t type, uint32_t ref) {
    fe::BlkCommand cmd;
    cmd.type = type;
    cmd.sector = kRevokeSector;
    cmd.data_len = 4096;
    cmd.data_gpa = grant_gpa(ref);
    return cmd;
}

}  // namespace

Result<std::string> check_bad_grants(CheckEnv& env, SharedPages& revoked, uint32_t revoked_ref,
                                     uint32_t never_granted) {
    auto& blk = env.session.blk();
    auto counted = around_bad_requests(env, env.seed ^ 0xaa, 3, [&]() -> Result<void> {
        // Revoked: gntalloc ends foreign access when the page is unshared and
        // nobody maps it, so the ref is no longer a grant at all.
        if (revoked.reset() != 0) return fail_errno("xengntshr_unshare of ref {}", revoked_ref);
        if (auto r = expect_ioerr(blk, into_ref(VIRTIO_BLK_T_IN, revoked_ref),
                                  fmt::format("read into revoked ref {}", revoked_ref));
            !r)
            return r;
        if (auto r = expect_ioerr(blk, into_ref(VIRTIO_BLK_T_OUT, revoked_ref),
                                  fmt::format("write from revoked ref {}", revoked_ref));
            !r)
            return r;
        return expect_ioerr(blk, into_ref(VIRTIO_BLK_T_IN, never_granted),
                            fmt::format("read into never-granted ref {}", never_granted));
    });
    if (!counted) return std::unexpected(counted.error());
    return fmt::format(
        "read into and write from revoked ref {}, read into never-granted ref {}: IOERR each; the next read "
        "succeeded and the sector kept its data; {}",
        revoked_ref, never_granted, *counted);
}

Result<std::string> check_never_granted(CheckEnv& env, uint32_t never_granted) {
    auto counted = around_bad_requests(env, env.seed ^ 0x55, 1, [&] {
        return expect_ioerr(env.session.blk(), into_ref(VIRTIO_BLK_T_IN, never_granted),
                            fmt::format("read into never-granted ref {}", never_granted));
    });
    if (!counted) return std::unexpected(counted.error());
    return fmt::format("read into ref {}, which the guest never granted: IOERR; the next read succeeded and the "
                       "sector kept its data; {}",
                       never_granted, *counted);
}

}  // namespace xenvhost::grantfe
