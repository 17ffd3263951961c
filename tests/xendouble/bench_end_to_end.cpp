// The real worker with the double preloaded, driven by the Xen front-end in
// grant mode at a fixed depth; optionally the worker's system calls counted
// by strace -c over a fixed number of requests.
#include "xendouble/bench.hpp"

#include "frontend/xen_blk_session.hpp"
#include "frontend/xen_worker.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

extern char** environ;

namespace xenvhost::xenbench {

using namespace xenvhost::frontend;
namespace xd = xendouble;

namespace {

double now_s() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Keeps `depth` requests of `shape` in flight until `count` completed or
// `seconds` passed; returns how many completed.
Result<uint64_t> drive(XenBlkQueue& q, const Shape& shape, unsigned depth, uint64_t count, double seconds,
                       uint64_t sectors) {
    std::vector<uint8_t> data(shape.bytes, 0x5a);
    const uint64_t span = shape.bytes / 512;
    uint64_t next = 0, done = 0, submitted = 0;
    const double end = now_s() + seconds;
    while (done < count && now_s() < end) {
        while (q.in_flight() < depth && submitted < count) {
            const uint64_t sector = (next++ * span) % (sectors - span);
            auto cmd = shape.write ? BlkCommand::out(sector, data) : BlkCommand::in(sector, shape.bytes);
            if (auto s = q.submit(cmd); !s) return std::unexpected(s.error());
            ++submitted;
        }
        q.flush();
        auto cs = q.poll(5000, 1);
        if (!cs) return std::unexpected(cs.error());
        if (cs->empty()) return fail("no completion within 5 s");
        for (const auto& c : *cs)
            if (c.status != VIRTIO_BLK_S_OK) return fail("request failed with status {}", c.status);
        done += cs->size();
    }
    // Let the rest finish so the counters are complete.
    while (q.in_flight()) {
        auto cs = q.poll(5000, q.in_flight());
        if (!cs) return std::unexpected(cs.error());
        if (cs->empty()) return fail("requests still in flight after 5 s");
        done += cs->size();
    }
    return done;
}

// strace -c -f attached to the worker; stopped with SIGINT, it writes its summary.
class Strace {
public:
    static Result<Strace> attach(pid_t pid, const std::string& out) {
        Strace s;
        s.out_ = out;
        std::vector<std::string> args{"strace", "-f", "-c", "-o", out, "-p", std::to_string(pid)};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
        int rc = ::posix_spawnp(&s.pid_, "strace", &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            errno = rc;
            return fail_errno("spawn strace");
        }
        ::usleep(500000);  // attaching to every thread takes a moment
        return s;
    }
    Strace() = default;
    Strace(Strace&& o) noexcept : pid_(std::exchange(o.pid_, -1)), out_(std::move(o.out_)) {}
    ~Strace() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    // Detaches and returns {total calls, mmap+munmap+ioctl calls}.
    Result<std::pair<uint64_t, uint64_t>> finish() {
        ::kill(pid_, SIGINT);
        int status;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        std::ifstream in(out_);
        if (!in) return fail("strace wrote no summary to {}", out_);
        uint64_t total = 0, mapping = 0;
        std::string line;
        while (std::getline(in, line)) {
            std::istringstream words(line);
            std::vector<std::string> w;
            for (std::string x; words >> x;) w.push_back(x);
            // "% time seconds usecs/call calls [errors] syscall"
            if (w.size() < 5 || w[0].find('.') == std::string::npos) continue;
            const uint64_t calls = std::stoull(w[3]);
            const std::string& name = w.back();
            if (name == "total") total = calls;
            if (name == "mmap" || name == "munmap" || name == "ioctl") mapping += calls;
        }
        if (!total) return fail("no total in the strace summary {}", out_);
        return std::pair{total, mapping};
    }

private:
    pid_t pid_ = -1;
    std::string out_;
};

}  // namespace

Result<EndToEnd> run_end_to_end(const Options& opts, const Shape& shape) {
    XenWorkerOptions wo = xen_worker_defaults(opts.build_bin);
    wo.guest_pages = (64ull << 20) / xd::kPageSize;
    wo.image_size = 256ull << 20;
    wo.num_queues = 1;
    auto w = XenWorker::start(wo);
    if (!w) return std::unexpected(w.error());
    XenSessionOptions so;
    so.mapping = XenMapping::kGrant;
    so.queue_size = 256;
    // Every request needs header, status and its data descriptors.
    const unsigned descriptors = 2 + (shape.segment ? shape.bytes / shape.segment : 1);
    const unsigned depth = std::min(opts.depth, so.queue_size / descriptors);
    so.blk.depth = depth;
    so.blk.max_data = std::max<uint32_t>(shape.bytes, 4096);
    so.blk.segment_size = shape.segment;
    auto s = XenBlkSession::connect((*w)->socket(), (*w)->files(), so);
    if (!s) return std::unexpected(s.error());
    if (auto r = (*s)->start(); !r) return std::unexpected(r.error());
    XenBlkQueue& q = (*s)->blk();
    const uint64_t sectors = wo.image_size / 512;
    if (auto r = drive(q, shape, depth, 500, 10, sectors); !r) return std::unexpected(r.error());  // warm-up

    const XenDoubleCounters c0 = (*w)->files().counters();
    auto st0 = (*w)->status();
    if (!st0) return std::unexpected(st0.error());
    const double t0 = now_s();
    auto n = drive(q, shape, depth, UINT64_MAX, opts.seconds, sectors);
    if (!n) return std::unexpected(n.error());
    const double t1 = now_s();
    const XenDoubleCounters d = (*w)->files().counters() - c0;
    auto st1 = (*w)->status();
    if (!st1) return std::unexpected(st1.error());
    EndToEnd e;
    e.depth = depth;
    const double reqs = static_cast<double>(*n);
    e.requests_per_second = reqs / (t1 - t0);
    e.map_calls = static_cast<double>(d[xd::kGrantMapCalls]) / reqs;
    e.unmap_calls = static_cast<double>(d[xd::kGrantUnmapCalls]) / reqs;
    e.pages = static_cast<double>(d[xd::kGrantPagesMapped]) / reqs;
    e.double_syscalls = static_cast<double>(d[xd::kSyscalls]) / reqs;
    e.worker_map_calls = static_cast<double>(st1->map_calls - st0->map_calls) / reqs;

    if (opts.strace && opts.strace_requests) {
        auto tracer = Strace::attach((*w)->process().pid(), (*w)->dir().file("strace.txt"));
        if (!tracer) return std::unexpected(tracer.error());
        auto m = drive(q, shape, depth, opts.strace_requests, 120, sectors);
        if (!m) return std::unexpected(m.error());
        auto counts = tracer->finish();
        if (!counts) return std::unexpected(counts.error());
        e.syscalls = static_cast<double>(counts->first) / static_cast<double>(*m);
        e.mapping_syscalls = static_cast<double>(counts->second) / static_cast<double>(*m);
    }
    s->reset();
    if (auto r = (*w)->stop_clean(); !r) return std::unexpected(r.error());
    return e;
}

}  // namespace xenvhost::xenbench
