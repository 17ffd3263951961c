// xen-map-bench [--seconds S] [--depth N] [--strace-requests N] [--no-strace]
//
// Part 1 runs the real worker (grant mode, the double preloaded) per
// request shape and measures requests per second, map calls and pages per
// request (the double's and the worker's counters) and, under strace -c,
// the worker's system calls per request.
// Part 2 compares the mapping work per request: the worker's batched calls
// against per-access mapping (vm-memory's map + unmap around every buffer
// access), in map calls, in the system calls real gntdev would need
// (libxengnttab: map = MAP_GRANT_REF ioctl + mmap, unmap = GET_OFFSET ioctl +
// munmap + UNMAP_GRANT_REF ioctl; vm-memory: 2 ioctls + mmap + munmap per
// access), and in the double's measured map + unmap time; the projected rate
// adds the extra mapping time to each request on the queue thread.
#include "xendouble/bench.hpp"

#include "frontend/xen_worker.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

using namespace xenvhost;
using namespace xenvhost::xenbench;

namespace xenvhost::xenbench {

std::vector<Shape> shapes() {
    std::vector<uint32_t> per_page(16, 1);
    std::vector<uint32_t> split{1};
    split.insert(split.end(), per_page.begin(), per_page.end());
    split.push_back(1);
    return {
        {"4K read", false, 4096, 0, {1, 2}, {1, 1, 1}},
        {"4K write", true, 4096, 0, {2, 1}, {1, 1, 1}},
        {"64K read", false, 65536, 0, {1, 17}, {1, 16, 1}},
        {"64K read 16 desc", false, 65536, 4096, {1, 17}, split},
        {"64K write", true, 65536, 0, {17, 1}, {1, 16, 1}},
    };
}

}  // namespace xenvhost::xenbench

namespace {

constexpr double kMapSyscalls = 2, kUnmapSyscalls = 3, kPerAccessSyscalls = 4;

int usage(const char* why) {
    if (why) std::fprintf(stderr, "xen-map-bench: %s\n", why);
    std::fprintf(stderr, "usage: xen-map-bench [--seconds S] [--depth N] [--strace-requests N] [--no-strace]\n");
    return why ? 2 : 0;
}

bool parse_number(const char* s, double& out) {
    char* end = nullptr;
    out = std::strtod(s, &end);
    return end && *end == '\0' && out > 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options opts;
    opts.build_bin = XENVHOST_BUILD_BIN;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        double v = 0;
        if (a == "--help") return usage(nullptr);
        if (a == "--no-strace") {
            opts.strace = false;
        } else if ((a == "--seconds" || a == "--depth" || a == "--strace-requests") && i + 1 < argc) {
            if (!parse_number(argv[++i], v)) return usage(("bad value for " + a).c_str());
            if (a == "--seconds") opts.seconds = v;
            if (a == "--depth") opts.depth = static_cast<unsigned>(v);
            if (a == "--strace-requests") opts.strace_requests = static_cast<unsigned>(v);
        } else {
            return usage(("unknown argument " + a).c_str());
        }
    }
    if (opts.depth == 0 || opts.depth > 128) return usage("--depth must be 1..128");
    if (opts.strace && std::system("command -v strace >/dev/null 2>&1") != 0) {
        std::fprintf(stderr, "xen-map-bench: strace not found; system calls are not counted\n");
        opts.strace = false;
    }
    const std::string lib = frontend::xen_worker_defaults(opts.build_bin).double_lib;

    std::map<uint32_t, double> cost;  // ns per map + unmap of n pages
    std::vector<std::pair<Shape, EndToEnd>> results;
    for (const Shape& shape : shapes()) {
        auto e = run_end_to_end(opts, shape);
        if (!e) {
            std::fprintf(stderr, "xen-map-bench: %s: %s\n", shape.name.c_str(), e.error().message.c_str());
            return 1;
        }
        results.emplace_back(shape, *e);
        for (const auto& list : {shape.batches, shape.accesses})
            for (uint32_t n : list)
                if (!cost.count(n)) {
                    auto ns = map_unmap_ns(lib, n);
                    if (!ns) {
                        std::fprintf(stderr, "xen-map-bench: %s\n", ns.error().message.c_str());
                        return 1;
                    }
                    cost[n] = *ns;
                }
    }

    std::printf("\nPart 1: end to end, grant mode, worker with batched mapping, %.1f s per shape\n\n", opts.seconds);
    std::printf("%-18s %5s %10s %10s %10s %8s %10s %12s %12s\n", "shape", "depth", "req/s", "maps/req", "worker",
                "pages", "double", "syscalls", "mmap+ioctl");
    std::printf("%-18s %5s %10s %10s %10s %8s %10s %12s %12s\n", "", "", "", "(double)", "maps/req", "/req",
                "sys/req", "/req", "/req");
    for (const auto& [s, e] : results) {
        std::printf("%-18s %5u %10.0f %10.2f %10.2f %8.2f %10.2f", s.name.c_str(), e.depth, e.requests_per_second,
                    e.map_calls, e.worker_map_calls, e.pages, e.double_syscalls);
        if (e.syscalls >= 0)
            std::printf(" %12.2f %12.2f\n", e.syscalls, e.mapping_syscalls);
        else
            std::printf(" %12s %12s\n", "-", "-");
    }

    std::printf("\nPart 2: mapping work per request, batched (worker) vs per access (vm-memory style)\n\n");
    std::printf("%-18s %7s %8s %9s | %7s %8s %9s | %7s %12s\n", "shape", "maps", "gntdev", "double", "maps",
                "gntdev", "double", "ratio", "projected");
    std::printf("%-18s %7s %8s %9s | %7s %8s %9s | %7s %12s\n", "", "batched", "sys", "us", "access", "sys", "us",
                "time", "req/s");
    for (const auto& [s, e] : results) {
        double batched_ns = 0, access_ns = 0;
        for (uint32_t n : s.batches) batched_ns += cost[n];
        for (uint32_t n : s.accesses) access_ns += cost[n];
        const double b_calls = static_cast<double>(s.batches.size());
        const double a_calls = static_cast<double>(s.accesses.size());
        const double projected = 1.0 / (1.0 / e.requests_per_second + (access_ns - batched_ns) * 1e-9);
        std::printf("%-18s %7.0f %8.0f %9.2f | %7.0f %8.0f %9.2f | %6.2fx %12.0f\n", s.name.c_str(), b_calls,
                    b_calls * (kMapSyscalls + kUnmapSyscalls), batched_ns / 1000, a_calls, a_calls * kPerAccessSyscalls,
                    access_ns / 1000, access_ns / batched_ns, projected);
    }
    std::printf("\ndouble map+unmap cost:");
    for (const auto& [n, ns] : cost) std::printf("  %u page%s %.2f us", n, n == 1 ? "" : "s", ns / 1000);
    std::printf("\n");
    return 0;
}
