// xen-grant-frontend: a vhost-user-blk front-end whose guest memory is real
// Xen grants, for the grant data path of xenvhost-worker in dom0 (see
// options.cpp for what it does). Prints PASS/FAIL lines, the figures, and a
// SUMMARY line of key=value pairs for scripts.

#include "data_checks.hpp"
#include "guest_frames.hpp"
#include "grant_pool.hpp"
#include "grant_session.hpp"
#include "options.hpp"
#include "timed_reads.hpp"
#include "worker_counters.hpp"
#include "xen_libs.hpp"

#include <fmt/core.h>

#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace xenvhost::grantfe {
namespace {

namespace fe = frontend;

constexpr uint32_t kMaxData = 64 * 1024;
constexpr uint64_t kLoopSectors = 8192;  // 4 MiB read cyclically by the timed loops
// How far past every ref in use the never-granted ref lies.
constexpr uint32_t kNeverGrantedDistance = 64;

struct Figures {
    std::vector<std::pair<std::string, std::string>> kv;
    template <typename T>
    void add(const std::string& key, const T& value) {
        kv.emplace_back(key, fmt::format("{}", value));
    }
    void add_fixed(const std::string& key, double value, int digits) {
        kv.emplace_back(key, fmt::format("{:.{}f}", value, digits));
    }
    std::string line() const {
        std::string out = "SUMMARY";
        for (const auto& [k, v] : kv) out += " " + k + "=" + v;
        return out;
    }
};

class Run {
public:
    explicit Run(const Options& o) : opts_(o), worker_(o.control) {}
    int main();

private:
    void pass(const std::string& what, const std::string& detail) {
        std::printf("PASS %s: %s\n", what.c_str(), detail.c_str());
        std::fflush(stdout);
    }
    void failed(const std::string& what, const std::string& reason) {
        std::printf("FAIL %s: %s\n", what.c_str(), reason.c_str());
        std::fflush(stdout);
        ++failures_;
    }
    void note(const std::string& text) {
        std::printf("%s\n", text.c_str());
        std::fflush(stdout);
    }
    Result<void> setup();
    void run_checks();
    Result<void> loop(const std::string& name, uint32_t len, uint32_t segment);
    Result<void> traced_loop(const std::string& name, uint32_t len, uint32_t segment);
    Result<void> hook(const char* step, const std::string& name);
    Result<void> teardown();

    Options opts_;
    WorkerCounters worker_;
    Figures fig_;
    int failures_ = 0;
    GntshrHandle shr_;
    GnttabHandle tab_;
    ForeignHandle fm_;
    std::unique_ptr<GrantPool> pool_;
    SharedPages revoked_;
    uint32_t revoked_ref_ = 0, never_granted_ = 0;
    std::unique_ptr<GrantSession> session_;
    Counters before_;
    uint64_t loop_requests_ = 0;
};

// The guest's domain: dom0 itself (its own grants) or --guest-domid.
uint32_t guest_of(const Options& o) { return o.guest_domid.value_or(o.domid); }
bool foreign_mode(const Options& o) { return !o.guest_pfns.empty(); }

Result<void> Run::setup() {
    tab_.reset(xengnttab_open(nullptr, 0));
    if (!tab_) return fail_errno("xengnttab_open (/dev/xen/gntdev)");
    const uint32_t guest = guest_of(opts_);
    if (foreign_mode(opts_)) {
        auto mfns = machine_frames(guest, opts_.guest_pfns);
        if (!mfns) return std::unexpected(mfns.error());
        fm_.reset(xenforeignmemory_open(nullptr, 0));
        if (!fm_) return fail_errno("xenforeignmemory_open (/dev/xen/privcmd)");
        auto pool = GrantPool::map_guest_frames(fm_.get(), guest, *mfns);
        if (!pool) return std::unexpected(pool.error());
        pool_ = std::move(*pool);
        note(fmt::format("guest memory: {} pages domain {} holds for us, its machine frames mapped through "
                         "privcmd: {}", opts_.guest_pfns.size(), guest, pool_->describe()));
    } else if (opts_.guest_domid) {
        auto pool = GrantPool::map_guest_grants(tab_.get(), guest, opts_.guest_grants);
        if (!pool) return std::unexpected(pool.error());
        pool_ = std::move(*pool);
        note(fmt::format("guest memory: {} grants of domain {} to dom0, mapped through gntdev: {}",
                         opts_.guest_grants.size(), guest, pool_->describe()));
        never_granted_ = pool_->max_ref() + kNeverGrantedDistance;
        note(fmt::format("ref {} never granted", never_granted_));
    } else {
        shr_.reset(xengntshr_open(nullptr, 0));
        if (!shr_) return fail_errno("xengntshr_open (/dev/xen/gntalloc)");
        auto pool = GrantPool::share(shr_.get(), opts_.domid, opts_.pages);
        if (!pool) return std::unexpected(pool.error());
        pool_ = std::move(*pool);
        note(fmt::format("guest memory: {} granted to domid {} (gntalloc)", pool_->describe(), opts_.domid));

        // A page granted now (so the table covers its ref) and revoked later.
        void* page = xengntshr_share_pages(shr_.get(), opts_.domid, 1, &revoked_ref_, 1);
        if (!page) return fail_errno("xengntshr_share_pages(1 page)");
        revoked_ = SharedPages(shr_.get(), page, 1);
        std::memset(revoked_.data(), 0xee, kXenPageSize);
        never_granted_ = std::max(pool_->max_ref(), revoked_ref_) + kNeverGrantedDistance;
        if (pool_->contains(never_granted_) || never_granted_ == revoked_ref_)
            return fail("ref {} meant as never granted is in use", never_granted_);
        note(fmt::format("ref {} granted to be revoked; ref {} never granted", revoked_ref_, never_granted_));
    }
    fig_.add("pool_runs", pool_->runs().size());

    if (worker_.available()) {
        auto c = worker_.read();
        if (!c) return std::unexpected(c.error());
        before_ = *c;
        note(fmt::format("worker before connecting: {}", before_.describe()));
    } else {
        note("no --control socket: the worker's map counters are not read");
    }

    GrantSessionOptions so;
    so.domid = guest;
    so.foreign = foreign_mode(opts_);
    so.queue_size = opts_.queue_size;
    if (!so.foreign) so.table_refs = never_granted_ + 1;
    so.blk.depth = std::max(opts_.depth, 2u);
    so.blk.max_data = kMaxData;
    auto s = GrantSession::connect(opts_.socket, *pool_, so);
    if (!s) return fail("connect to {}: {}", opts_.socket, s.error().message);
    session_ = std::move(*s);
    if (auto r = session_->start(); !r) return fail("bring-up: {}", r.error().message);
    note(fmt::format("negotiated: features {:#x}, protocol features {:#x} (XEN_MMAP); capacity {} sectors",
                     session_->acked_features(), session_->acked_protocol_features(), session_->capacity_sectors()));
    note(fmt::format("memory table ({} regions, 40 bytes each):\n{}", session_->regions().size(),
                     session_->describe_table()));
    if (session_->capacity_sectors() < kChecksEnd + kLoopSectors)
        return fail("the image has {} sectors; the checks need {}", session_->capacity_sectors(),
                    kChecksEnd + kLoopSectors);

    if (worker_.available()) {
        // The rings are mapped by the queue thread once the ring is enabled:
        // three map calls; foreign regions mapped whole need none (their
        // maps came with the table).
        const std::string expect = so.foreign ? "foreign" : "grant";
        auto c = worker_.wait_for(
            [&](const Counters& c) { return c.mapping == expect && c.map_calls >= before_.map_calls + (so.foreign ? 1 : 3); },
            3000);
        if (!c) return std::unexpected(c.error());
        const Counters d = *c - before_;
        note(fmt::format("worker after the rings started: mapping {}, {} map calls ({} pages) held long-lived",
                         c->mapping, d.map_calls, d.pages_mapped));
        if (c->mapping != expect) return fail("the worker reports mapping '{}', not {}", c->mapping, expect);
        fig_.add("ring_map_calls", d.map_calls);
        before_ = *c;
    }
    return {};
}

void Run::run_checks() {
    CheckEnv env{*session_, *pool_, worker_, opts_.image};
    env.foreign = foreign_mode(opts_);
    auto record = [&](const char* name, const Result<std::string>& r) {
        if (r)
            pass(name, *r);
        else
            failed(name, r.error().message);
    };
    record("write-flush-read", check_write_flush_read(env));
    record("multi-page-buffer", check_multi_page_buffer(env));
    if (!opts_.guest_domid)
        record("bad-grants", check_bad_grants(env, revoked_, revoked_ref_, never_granted_));
    else if (!foreign_mode(opts_))
        record("never-granted", check_never_granted(env, never_granted_));
}

// What one request may cost under the worker's --grant-access: batched
// maps are one per direction (header read-only, data and status writable),
// per-access maps one per descriptor, copies one call per direction and no
// map; `auto` is either, by the request's size.
Result<void> check_calls(const std::string& name, const Counters& d, unsigned descriptors) {
    const std::string& mode = d.grant_access;
    const uint64_t n = d.requests;
    if (d.map_failures || d.copy_failures) return fail("{}: {} map and {} copy failures", name, d.map_failures, d.copy_failures);
    if (d.unmap_calls != d.map_calls) return fail("{}: {} map calls but {} unmap calls", name, d.map_calls, d.unmap_calls);
    const bool copied = d.copy_calls > 0;
    if (copied && (mode == "map" || mode == "per-access")) return fail("{}: grant copies in mode {}", name, mode);
    if (copied && (d.copy_calls > 2 * n || d.map_calls))
        return fail("{}: {} copy and {} map calls for {} requests", name, d.copy_calls, d.map_calls, n);
    if (!copied && mode == "copy") return fail("{}: no grant copy in mode copy", name);
    const uint64_t per = mode == "per-access" ? descriptors + 2 : 2;
    if (!copied && d.map_calls > per * n)
        return fail("{}: {} map calls for {} requests, more than {} each in mode {}", name, d.map_calls, n, per, mode);
    return {};
}

Result<void> Run::loop(const std::string& name, uint32_t len, uint32_t segment) {
    Counters start;
    if (worker_.available()) {
        auto c = worker_.read();
        if (!c) return std::unexpected(c.error());
        start = *c;
    }
    ReadLoop l;
    l.len = len;
    l.segment = segment;
    l.depth = opts_.depth;
    l.seconds = opts_.seconds;
    l.first_sector = kChecksEnd;
    l.sectors = kLoopSectors;
    auto r = timed_reads(session_->blk(), l, opts_.image);
    if (!r) return std::unexpected(r.error());
    loop_requests_ += r->requests;
    const double rps = r->per_second();
    const unsigned segments = segment ? len / segment : 1;
    std::string line = fmt::format("{} reads of {} KiB ({} data descriptor(s)), {} in flight: {} requests in {:.2f} s = "
                                   "{:.1f} requests/s",
                                   name, len / 1024, segments, opts_.depth, r->requests, r->seconds, rps);
    fig_.add_fixed("rps_" + name, rps, 1);
    if (worker_.available()) {
        auto c = worker_.wait_for([&](const Counters& c) { return c.requests >= start.requests + r->requests; }, 2000);
        if (!c) return std::unexpected(c.error());
        const Counters d = *c - start;
        if (d.requests == 0) return fail("{}: the worker counted no requests", name);
        auto per = [&](uint64_t v) { return static_cast<double>(v) / static_cast<double>(d.requests); };
        line += fmt::format("; worker ({}): {} requests, per request {:.2f} map calls ({:.2f} pages), {:.2f} copy "
                            "calls ({:.2f} segments); {} unmap calls",
                            d.grant_access, d.requests, per(d.map_calls), per(d.pages_mapped), per(d.copy_calls),
                            per(d.copy_segments), d.unmap_calls);
        fig_.add_fixed("map_calls_per_request_" + name, per(d.map_calls), 2);
        fig_.add_fixed("pages_per_request_" + name, per(d.pages_mapped), 2);
        fig_.add_fixed("copy_calls_per_request_" + name, per(d.copy_calls), 2);
        fig_.add_fixed("copy_segments_per_request_" + name, per(d.copy_segments), 2);
        if (auto ok = check_calls(name, d, segments); !ok) return ok;
    }
    note(line);
    return {};
}

Result<void> Run::hook(const char* step, const std::string& name) {
    const std::string cmd = fmt::format("{} {} {}", opts_.trace_hook, step, name);
    const int rc = std::system(cmd.c_str());
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) return fail("'{}' failed (status {})", cmd, rc);
    return {};
}

// The same reads again between the hook's start and stop (a script traces
// the worker there): the requests they made, for syscalls per request.
Result<void> Run::traced_loop(const std::string& name, uint32_t len, uint32_t segment) {
    if (auto h = hook("start", name); !h) return h;
    ReadLoop l;
    l.len = len;
    l.segment = segment;
    l.depth = opts_.depth;
    l.seconds = opts_.trace_seconds;
    l.first_sector = kChecksEnd;
    l.sectors = kLoopSectors;
    auto r = timed_reads(session_->blk(), l, opts_.image);
    // Stopped even when the loop failed, so no tracer stays attached.
    auto h = hook("stop", name);
    if (!r) return std::unexpected(r.error());
    if (!h) return h;
    loop_requests_ += r->requests;
    fig_.add("traced_requests_" + name, r->requests);
    note(fmt::format("{} reads traced: {} requests in {:.2f} s", name, r->requests, r->seconds));
    return {};
}

Result<void> Run::teardown() {
    const uint16_t avail = session_->queue().avail_idx();
    auto base = session_->stop();
    if (!base) return fail("stop: {}", base.error().message);
    if (*base != avail) return fail("GET_VRING_BASE answered {}, the driver made {} available", *base, avail);
    note(fmt::format("ring stopped: GET_VRING_BASE {} = the driver's avail index", *base));
    session_.reset();  // closes the connection
    if (!worker_.available()) return {};
    // A map call that failed (a bad grant) has nothing to unmap.
    auto released = [](const Counters& c) { return c.map_calls == c.unmap_calls + c.map_failures; };
    auto c = worker_.wait_for([&](const Counters& c) { return !c.connected && released(c); }, 5000);
    if (!c) return std::unexpected(c.error());
    note(fmt::format("worker after disconnecting: {}", c->describe()));
    if (c->connected) return fail("the worker still reports a connected front-end");
    if (!released(*c))
        return fail("the worker holds {} mappings after the disconnect",
                    static_cast<int64_t>(c->map_calls - c->unmap_calls - c->map_failures));
    fig_.add("worker_requests", c->requests);
    fig_.add("worker_map_calls", c->map_calls);
    fig_.add("worker_unmap_calls", c->unmap_calls);
    fig_.add("worker_pages_mapped", c->pages_mapped);
    fig_.add("worker_map_failures", c->map_failures);
    return {};
}

int Run::main() {
    if (auto r = setup(); !r) {
        failed("setup", r.error().message);
        return 1;
    }
    run_checks();
    const uint64_t check_requests = session_->queue().avail_idx();
    if (worker_.available())
        if (auto c = worker_.read(); c) fig_.add("grant_access", c->grant_access);
    // Untimed reads first: under TCG the first pass over a code path pays
    // for its translation, which would count against the first loop only.
    if (opts_.warmup_seconds > 0) {
        ReadLoop w;
        w.len = 4096;
        w.depth = opts_.depth;
        w.seconds = opts_.warmup_seconds;
        w.first_sector = kChecksEnd;
        w.sectors = kLoopSectors;
        if (auto r = timed_reads(session_->blk(), w, opts_.image); !r)
            failed("warm-up", r.error().message);
        else
            loop_requests_ += r->requests;
    }
    for (uint32_t kib : opts_.loop_kib) {
        const std::string name = fmt::format("{}k", kib);
        const uint32_t len = kib * 1024, segment = kib > 4 ? 4096 : 0;
        if (auto r = loop(name, len, segment); !r) failed("timed-reads-" + name, r.error().message);
        if (!opts_.trace_hook.empty())
            if (auto r = traced_loop(name, len, segment); !r) failed("traced-reads-" + name, r.error().message);
    }
    fig_.add("requests", check_requests + loop_requests_);
    if (auto r = teardown(); !r) failed("teardown", r.error().message);
    note(fmt::format("requests done: {} ({} by the checks, {} in the timed loops)", check_requests + loop_requests_,
                     check_requests, loop_requests_));
    fig_.add("failures", failures_);
    note(fig_.line());
    return failures_ ? 1 : 0;
}

}  // namespace
}  // namespace xenvhost::grantfe

int main(int argc, char** argv) {
    using namespace xenvhost::grantfe;
    auto opts = parse_options(argc, argv);
    if (!opts) {
        std::fprintf(stderr, "xen-grant-frontend: %s (see --help)\n", opts.error().message.c_str());
        return 2;
    }
    if (opts->help) {
        std::fputs(usage(), stdout);
        return 0;
    }
    // A worker that goes away mid-message must show up as an error, not kill us.
    std::signal(SIGPIPE, SIG_IGN);
    Run run(*opts);
    return run.main();
}
