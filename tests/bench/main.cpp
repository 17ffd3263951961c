// xenvhost-bench: the same load, from the same front-end, against the worker,
// the worker with --null-io (no I/O at all: the limit of everything else) and
// qemu-storage-daemon, each serving one raw image in tmpfs. Prints one table
// of medians with the worker's ratios and the targets.

#include "config.hpp"
#include "frontend/backend_process.hpp"
#include "frontend/test_env.hpp"
#include "plan.hpp"
#include "proc.hpp"
#include "report.hpp"

#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>

using namespace xenvhost;
using namespace xenvhost::bench;
using namespace xenvhost::frontend;

namespace {

// Every back-end serves this many queues; one-queue workloads use queue 0.
constexpr uint16_t kBackendQueues = 2;

Result<std::unique_ptr<BackendProcess>> start_backend(const Config& cfg, const std::string& name,
                                                      const TempDir& dir, const std::string& image) {
    BackendOptions o;
    o.kind = name == "qsd" ? BackendKind::kQsd : BackendKind::kWorker;
    o.program = name == "qsd" ? cfg.qsd : cfg.worker;
    o.socket_path = dir.file(name + ".sock");
    o.image_path = image;
    o.log_path = dir.file(name + ".log");
    o.num_queues = kBackendQueues;
    if (name == "qsd") o.qsd_blockdev_options = "aio=" + cfg.qsd_aio;
    if (name == "null") o.extra_args = {"--null-io"};
    return BackendProcess::start(o);
}

void print_header(const Config& cfg, const std::string& load_start, const std::string& load_end) {
    std::cout << fmt::format(
        "\n{} MiB raw image in {}; {} s measured per run after {} s warm-up; median of {} round(s)\n"
        "back-ends (each serving {} queues): xenvhost-worker; worker --null-io (the same worker, requests "
        "completed\n  without I/O: the limit); qemu-storage-daemon (aio={}). qdN: requests in flight; "
        "2q: two queues, one\n  front-end thread each, half the depth on each\n"
        "host: {} CPUs; load average at start {}, at end {}\n\n",
        cfg.image_mib, cfg.dir, cfg.duration_s, cfg.warmup_s, cfg.rounds, kBackendQueues, cfg.qsd_aio,
        ::sysconf(_SC_NPROCESSORS_ONLN), load_start, load_end);
}

}  // namespace

int main(int argc, char** argv) {
    int exit_code = 0;
    auto cfg = parse_config(argc, argv, std::string(XENVHOST_BUILD_BIN) + "/xenvhost-worker", exit_code);
    if (!cfg) return exit_code;
    // A broken pipe to a dead back-end must show up as an error, not kill us.
    ::signal(SIGPIPE, SIG_IGN);
    const std::string load_start = host_load();

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

    // All back-ends run side by side (idle when not driven); runs rotate
    // between them so that load from elsewhere hits each alike.
    const auto& names = cfg->backends;
    std::vector<std::unique_ptr<BackendProcess>> procs;
    for (const auto& name : names) {
        auto proc = start_backend(*cfg, name, *dir, image);
        if (!proc) {
            std::cerr << "xenvhost-bench: " << name << ": " << proc.error().message << "\n";
            return 1;
        }
        procs.push_back(std::move(*proc));
    }

    const std::vector<Case> cases = bench_cases(cfg->depth);
    RunOptions ro;
    ro.duration = std::chrono::milliseconds(static_cast<int64_t>(cfg->duration_s * 1000));
    ro.warmup = std::chrono::milliseconds(static_cast<int64_t>(cfg->warmup_s * 1000));
    ro.queue_size = cfg->queue_size;

    int status = 0;
    std::map<RunKey, std::vector<Figures>> runs;
    for (unsigned round = 0; round < cfg->rounds; ++round) {
        for (const auto& c : cases) {
            for (size_t k = 0; k < names.size(); ++k) {
                const size_t i = (k + round) % names.size();
                std::cerr << fmt::format("round {}/{}: {} {} for {} s ...\n", round + 1, cfg->rounds, names[i],
                                         c.workload.name, cfg->duration_s);
                ro.backend_pid = procs[i]->pid();
                auto r = run_workload(procs[i]->options().socket_path, c.workload, ro);
                if (!r) {
                    std::cerr << fmt::format("xenvhost-bench: {} {}: {}\n{}\n", names[i], c.workload.name,
                                             r.error().message, procs[i]->log_tail(2000));
                    status = 1;
                    continue;
                }
                runs[{c.workload.name, names[i]}].push_back(*r);
            }
        }
    }
    for (auto& p : procs)
        if (auto st = p->stop(); !st) std::cerr << "xenvhost-bench: " << st.error().message << "\n";

    std::map<RunKey, Figures> results;
    for (const auto& [key, list] : runs) results[key] = median_figures(list);
    print_header(*cfg, load_start, host_load());
    print_table(std::cout, cases, results);
    return status;
}
