// xenvhost-bench: the same load, from the same front-end, against the worker,
// the same worker with every transfer through io_uring (--io-path=uring: what
// its copies in the queue thread gain on tmpfs), the same worker behind its
// sandbox (--sandbox-user: what deprivileging costs), the worker with
// --null-io (no I/O at all: the limit of everything else) and
// qemu-storage-daemon, each serving one raw image in tmpfs. Prints
// one table of medians with the worker's ratios and the targets.

#include "config.hpp"
#include "frontend/backend_process.hpp"
#include "frontend/test_env.hpp"
#include "plan.hpp"
#include "proc.hpp"
#include "report.hpp"

#include "frontend/clock.hpp"
#include "sandbox/sandbox.hpp"

#include <fmt/core.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>

using namespace xenvhost;
using namespace xenvhost::bench;
using namespace xenvhost::frontend;

namespace {

// Every back-end serves this many queues; one-queue workloads use queue 0.
constexpr uint16_t kBackendQueues = 2;

// An empty directory the sandboxed worker mounts its empty root on (in its
// own mount namespace: nothing shows here).
std::string sandbox_root(const TempDir& dir) { return dir.file("sandbox-root"); }

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
    if (name == "uring") o.extra_args = {"--io-path", "uring"};
    if (name == "sandboxed")
        o.extra_args = {"--sandbox-user", cfg.sandbox_user, "--sandbox-root", sandbox_root(dir)};
    return BackendProcess::start(o);
}

// The sandboxed worker listens before it drops (its socket and image are
// opened first), so its socket alone does not show the sandbox is on: wait
// until /proc shows the identity, no_new_privs and a seccomp filter, or
// fail with its log. A worker measured unsandboxed would make the ratio lie.
Result<> wait_until_sandboxed(BackendProcess& proc, const sandbox::Identity& who) {
    const int64_t deadline = now_ms() + 10000;
    for (;;) {
        auto c = read_process_credentials(proc.pid());
        if (c && c->uid == who.uid && c->gid == who.gid && c->no_new_privs && c->seccomp == 2) return {};
        if (!proc.alive())
            return fail("exited before deprivileging ({}): {}", describe_wait_status(proc.wait_status()),
                        proc.log_tail(2048));
        if (now_ms() >= deadline)
            return fail("not deprivileged within 10 s ({}): {}",
                        c ? fmt::format("uid {} gid {} no_new_privs {} seccomp {}", c->uid, c->gid,
                                        c->no_new_privs, c->seccomp)
                          : c.error().message,
                        proc.log_tail(2048));
        ::usleep(10000);
    }
}

// The sandboxed worker's identity must belong to nobody else, so nothing it
// could reach is owned by it.
Result<> check_identity_unused(const sandbox::Identity& who) {
    if (const passwd* pw = ::getpwuid(who.uid))
        return fail("--sandbox-user: uid {} is user {}; give one that no passwd entry uses", who.uid,
                    pw->pw_name);
    if (const group* gr = ::getgrgid(who.gid))
        return fail("--sandbox-user: gid {} is group {}; give one that no group entry uses", who.gid,
                    gr->gr_name);
    return {};
}

void print_header(const Config& cfg, const TempDir& dir, const std::string& load_start,
                  const std::string& load_end) {
    std::string order;
    for (const auto& n : cfg.backends) order += (order.empty() ? "" : ", ") + n;
    std::cout << fmt::format(
        "\n{} MiB raw image in {}; {} s measured per run after {} s warm-up; median of {} round(s)\n"
        "back-ends (each serving {} queues): xenvhost-worker (on tmpfs: reads and writes copied in its\n"
        "  queue threads); worker io-path=uring (the same worker, every transfer through io_uring);\n"
        "  worker sandboxed (the same worker with\n"
        "  --sandbox-user {} --sandbox-root {}:\n"
        "  empty root and network, uid/gid drop, no capabilities, no_new_privs, seccomp filter);\n"
        "  worker --null-io (the same worker, requests completed without I/O: the limit);\n"
        "  qemu-storage-daemon (aio={}). Run here, rotating: {}.\n"
        "qdN: requests in flight; 2q: two queues, one front-end thread each, half the depth on each\n",
        cfg.image_mib, cfg.dir, cfg.duration_s, cfg.warmup_s, cfg.rounds, kBackendQueues, cfg.sandbox_user,
        sandbox_root(dir), cfg.qsd_aio, order);
    for (const auto& why : cfg.skipped) std::cout << "not run: " << why << "\n";
    std::cout << fmt::format("host: {} CPUs; load average at start {}, at end {}\n\n",
                             ::sysconf(_SC_NPROCESSORS_ONLN), load_start, load_end);
}

}  // namespace

int main(int argc, char** argv) {
    int exit_code = 0;
    auto cfg = parse_config(argc, argv, std::string(XENVHOST_BUILD_BIN) + "/xenvhost-worker",
                            ::geteuid() == 0, exit_code);
    if (!cfg) return exit_code;
    for (const auto& why : cfg->skipped) std::cerr << "xenvhost-bench: " << why << "\n";
    const auto& names = cfg->backends;
    const bool sandboxed = std::find(names.begin(), names.end(), "sandboxed") != names.end();
    const sandbox::Identity who = *sandbox::parse_identity(cfg->sandbox_user);  // parse_config checked it
    if (sandboxed) {
        if (auto r = check_identity_unused(who); !r) {
            std::cerr << "xenvhost-bench: " << r.error().message << "\n";
            return 2;
        }
    }
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

    if (sandboxed && ::mkdir(sandbox_root(*dir).c_str(), 0755) != 0) {
        std::cerr << fmt::format("xenvhost-bench: mkdir {}: {}\n", sandbox_root(*dir), std::strerror(errno));
        return 1;
    }

    // All back-ends run side by side (idle when not driven); runs rotate
    // between them so that load from elsewhere hits each alike.
    std::vector<std::unique_ptr<BackendProcess>> procs;
    for (const auto& name : names) {
        auto proc = start_backend(*cfg, name, *dir, image);
        if (proc && name == "sandboxed")
            if (auto r = wait_until_sandboxed(**proc, who); !r) proc = std::unexpected(r.error());
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
    print_header(*cfg, *dir, load_start, host_load());
    print_table(std::cout, cases, results);
    return status;
}
