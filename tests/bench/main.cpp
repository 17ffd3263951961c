// xenvhost-bench: the same load, from the same front-end, against the worker
// and against qemu-storage-daemon, each serving one raw image in tmpfs.
// Prints IOPS, MiB/s and latency per back-end and the worker/qsd ratios.

#include "frontend/backend_process.hpp"
#include "frontend/test_env.hpp"
#include "workload.hpp"

#include <fmt/core.h>
#include <signal.h>

#include <boost/program_options.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>

namespace po = boost::program_options;
using namespace xenvhost;
using namespace xenvhost::frontend;
using xenvhost::bench::RunOptions;
using xenvhost::bench::Workload;

namespace {

struct Config {
    double duration_s = 10;
    double warmup_s = 1;
    uint64_t image_mib = 1024;
    std::string dir = "/dev/shm";
    std::string worker = std::string(XENVHOST_BUILD_BIN) + "/xenvhost-worker";
    std::string qsd = "/usr/bin/qemu-storage-daemon";
    std::string qsd_aio = "io_uring";
    std::string only;  // "", "worker" or "qsd"
    unsigned depth = 32;
    uint16_t queue_size = 128;
    unsigned rounds = 1;
};

std::optional<Config> parse(int argc, char** argv) {
    Config c;
    po::options_description d("Usage: xenvhost-bench [options]\nOptions");
    d.add_options()("help,h", "print this help and exit")(
        "duration", po::value(&c.duration_s)->default_value(c.duration_s),
        "measured seconds per workload and back-end")(
        "warmup", po::value(&c.warmup_s)->default_value(c.warmup_s), "unmeasured seconds first")(
        "image-size", po::value(&c.image_mib)->default_value(c.image_mib), "image size in MiB")(
        "dir", po::value(&c.dir)->default_value(c.dir), "tmpfs directory for the image")(
        "worker", po::value(&c.worker)->default_value(c.worker), "xenvhost-worker binary")(
        "qsd", po::value(&c.qsd)->default_value(c.qsd), "qemu-storage-daemon binary")(
        "qsd-aio", po::value(&c.qsd_aio)->default_value(c.qsd_aio),
        "qemu-storage-daemon aio mode (io_uring, threads, native)")(
        "only", po::value(&c.only), "run one back-end only: worker or qsd")(
        "depth", po::value(&c.depth)->default_value(c.depth), "requests in flight")(
        "queue-size", po::value(&c.queue_size)->default_value(c.queue_size), "virtqueue size")(
        "rounds", po::value(&c.rounds)->default_value(c.rounds),
        "repeat every run this many times, alternating back-ends; medians are printed");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, d), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "xenvhost-bench: " << e.what() << "\n" << d;
        return std::nullopt;
    }
    if (vm.count("help")) {
        std::cout << d;
        std::exit(0);
    }
    if (!c.only.empty() && c.only != "worker" && c.only != "qsd") {
        std::cerr << "xenvhost-bench: --only takes worker or qsd\n";
        return std::nullopt;
    }
    if (c.duration_s <= 0 || c.warmup_s < 0 || c.image_mib == 0 || c.depth == 0 ||
        c.depth > c.queue_size || c.rounds == 0) {
        std::cerr << "xenvhost-bench: bad duration, image size, depth or queue size\n";
        return std::nullopt;
    }
    return c;
}

using Figures = bench::Result;

std::string row(const std::string& workload, const std::string& who, const Figures& f) {
    return fmt::format("{:<18} {:<20} {:>10.0f} {:>9.1f} {:>10.1f} {:>10.1f} {:>10.1f}", workload,
                       who, f.iops, f.mib_per_s, f.mean_us, f.p50_us, f.p99_us);
}

}  // namespace

int main(int argc, char** argv) {
    auto cfg = parse(argc, argv);
    if (!cfg) return 2;
    // A broken pipe to a dead back-end must show up as an error, not kill us.
    ::signal(SIGPIPE, SIG_IGN);

    auto dir = TempDir::create("xenvhost-bench", cfg->dir);
    if (!dir) {
        std::cerr << "xenvhost-bench: " << dir.error().message << "\n";
        return 1;
    }
    std::string image = dir->file("disk.img");
    std::cerr << fmt::format("creating a {} MiB image in {}\n", cfg->image_mib, dir->path());
    if (auto r = create_image(image, cfg->image_mib << 20, 7); !r) {
        std::cerr << "xenvhost-bench: " << r.error().message << "\n";
        return 1;
    }

    const std::vector<Workload> workloads = {
        {"randread 4k", false, false, 4096},
        {"randwrite 4k", true, false, 4096},
        {"seqread 64k", false, true, 65536},
    };
    RunOptions ro;
    ro.duration = std::chrono::milliseconds(static_cast<int64_t>(cfg->duration_s * 1000));
    ro.warmup = std::chrono::milliseconds(static_cast<int64_t>(cfg->warmup_s * 1000));
    ro.depth = cfg->depth;
    ro.queue_size = cfg->queue_size;

    struct Backend {
        BackendKind kind;
        const char* label;
    };
    std::vector<Backend> backends;
    if (cfg->only.empty() || cfg->only == "worker") backends.push_back({BackendKind::kWorker, "worker"});
    if (cfg->only.empty() || cfg->only == "qsd") backends.push_back({BackendKind::kQsd, "qsd"});

    // Both back-ends run side by side (idle when not driven); runs alternate
    // between them so that load from elsewhere hits both alike.
    std::vector<std::unique_ptr<BackendProcess>> procs;
    std::vector<std::string> sockets;
    int status = 0;
    for (const auto& b : backends) {
        BackendOptions o;
        o.kind = b.kind;
        o.program = b.kind == BackendKind::kWorker ? cfg->worker : cfg->qsd;
        o.socket_path = dir->file(std::string(b.label) + ".sock");
        o.image_path = image;
        o.log_path = dir->file(std::string(b.label) + ".log");
        o.num_queues = 1;
        if (b.kind == BackendKind::kQsd) o.qsd_blockdev_options = "aio=" + cfg->qsd_aio;
        auto proc = BackendProcess::start(o);
        if (!proc) {
            std::cerr << "xenvhost-bench: " << proc.error().message << "\n";
            return 1;
        }
        procs.push_back(std::move(*proc));
        sockets.push_back(o.socket_path);
    }

    std::map<std::pair<std::string, std::string>, std::vector<Figures>> runs;
    for (unsigned round = 0; round < cfg->rounds; ++round) {
        for (const auto& w : workloads) {
            for (size_t k = 0; k < backends.size(); ++k) {
                size_t i = (k + round) % backends.size();
                const auto& b = backends[i];
                std::cerr << fmt::format("round {}/{}: {} {} qd{} for {} s ...\n", round + 1,
                                         cfg->rounds, b.label, w.name, cfg->depth, cfg->duration_s);
                auto r = bench::run_workload(sockets[i], w, ro);
                if (!r) {
                    std::cerr << fmt::format("xenvhost-bench: {} {}: {}\n{}\n", b.label, w.name,
                                             r.error().message, procs[i]->log_tail(2000));
                    status = 1;
                    continue;
                }
                runs[{w.name, b.label}].push_back(*r);
            }
        }
    }
    for (auto& p : procs)
        if (auto st = p->stop(); !st) std::cerr << "xenvhost-bench: " << st.error().message << "\n";

    // Median of each figure over the rounds.
    std::map<std::pair<std::string, std::string>, Figures> results;
    for (auto& [key, list] : runs) {
        auto median = [&](double Figures::*field) {
            std::vector<double> v;
            for (const auto& f : list) v.push_back(f.*field);
            std::sort(v.begin(), v.end());
            return v[v.size() / 2];
        };
        Figures m;
        m.iops = median(&Figures::iops);
        m.mib_per_s = median(&Figures::mib_per_s);
        m.mean_us = median(&Figures::mean_us);
        m.p50_us = median(&Figures::p50_us);
        m.p99_us = median(&Figures::p99_us);
        results[key] = m;
    }

    double load[3] = {0, 0, 0};
    (void)!::getloadavg(load, 3);
    std::cout << fmt::format("\n1 queue, queue depth {}, {} MiB raw image in {}, {} s per run "
                             "(after {} s warm-up), median of {} round(s); qsd aio={}; "
                             "load average {:.1f} on {} CPUs\n\n",
                             cfg->depth, cfg->image_mib, cfg->dir, cfg->duration_s, cfg->warmup_s,
                             cfg->rounds, cfg->qsd_aio, load[0], ::sysconf(_SC_NPROCESSORS_ONLN));
    std::cout << fmt::format("{:<18} {:<20} {:>10} {:>9} {:>10} {:>10} {:>10}\n", "workload",
                             "back-end", "IOPS", "MiB/s", "mean us", "p50 us", "p99 us");
    std::cout << std::string(93, '-') << "\n";
    for (const auto& w : workloads) {
        const Figures* wk = nullptr;
        const Figures* qs = nullptr;
        if (auto it = results.find({w.name, "worker"}); it != results.end()) wk = &it->second;
        if (auto it = results.find({w.name, "qsd"}); it != results.end()) qs = &it->second;
        std::string label = fmt::format("{} qd{}", w.name, cfg->depth);
        if (wk) std::cout << row(label, "xenvhost-worker", *wk) << "\n";
        if (qs) std::cout << row(wk ? "" : label, "qemu-storage-daemon", *qs) << "\n";
        if (wk && qs) {
            std::cout << fmt::format("{:<18} {:<20} {:>9.2f}x {:>8.2f}x {:>9.2f}x {:>9.2f}x {:>9.2f}x\n",
                                     "", "ratio worker/qsd", wk->iops / qs->iops,
                                     wk->mib_per_s / qs->mib_per_s, wk->mean_us / qs->mean_us,
                                     wk->p50_us / qs->p50_us, wk->p99_us / qs->p99_us);
        }
    }
    std::cout << "\n(IOPS and MiB/s: higher is better; latencies: lower is better)\n";
    return status;
}
