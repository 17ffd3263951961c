#include "config.hpp"

#include "backend_set.hpp"
#include "sandbox/sandbox.hpp"

#include <boost/program_options.hpp>

#include <iostream>

namespace po = boost::program_options;

namespace xenvhost::bench {

namespace {

const char* check(const Config& c) {
    if (c.duration_s <= 0) return "--duration must be above 0";
    if (c.warmup_s < 0) return "--warmup must not be negative";
    if (c.image_mib == 0) return "--image-size must be above 0";
    if (c.depth < 2 || c.depth % 2) return "--depth must be even and at least 2 (the 2-queue run splits it)";
    if (c.depth > c.queue_size) return "--depth must not exceed --queue-size";
    if (c.rounds == 0) return "--rounds must be at least 1";
    return nullptr;
}

}  // namespace

std::optional<Config> parse_config(int argc, char** argv, const std::string& default_worker, bool root,
                                   int& exit_code) {
    Config c;
    c.worker = default_worker;
    std::string only;
    po::options_description d("Usage: xenvhost-bench [options]\nOptions");
    // clang-format off
    d.add_options()
        ("help,h", "print this help and exit")
        ("duration", po::value(&c.duration_s)->default_value(c.duration_s), "measured seconds per workload and back-end")
        ("warmup", po::value(&c.warmup_s)->default_value(c.warmup_s), "unmeasured seconds first")
        ("image-size", po::value(&c.image_mib)->default_value(c.image_mib), "image size in MiB")
        ("dir", po::value(&c.dir)->default_value(c.dir), "tmpfs directory for the image")
        ("worker", po::value(&c.worker)->default_value(c.worker), "xenvhost-worker binary (also run with --null-io, and sandboxed)")
        ("qsd", po::value(&c.qsd)->default_value(c.qsd), "qemu-storage-daemon binary")
        ("qsd-aio", po::value(&c.qsd_aio)->default_value(c.qsd_aio), "qemu-storage-daemon aio mode (io_uring, threads, native)")
        ("only", po::value(&only), "run only these back-ends, in this order, comma-separated: "
         "worker, uring, sandboxed, null, qsd (default: all five, sandboxed only when root)")
        ("sandbox-user", po::value(&c.sandbox_user)->default_value(c.sandbox_user),
         "UID:GID the sandboxed worker drops to; no passwd or group entry may use them")
        ("depth", po::value(&c.depth)->default_value(c.depth), "requests in flight in the deep workloads (QD1 ones stay at 1)")
        ("queue-size", po::value(&c.queue_size)->default_value(c.queue_size), "virtqueue size")
        ("rounds", po::value(&c.rounds)->default_value(c.rounds),
         "repeat every run this many times, rotating the back-ends' order; medians are printed");
    // clang-format on
    po::variables_map vm;
    exit_code = 2;
    try {
        po::store(po::parse_command_line(argc, argv, d), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "xenvhost-bench: " << e.what() << "\n" << d;
        return std::nullopt;
    }
    if (vm.count("help")) {
        std::cout << d;
        exit_code = 0;
        return std::nullopt;
    }
    std::vector<std::string> requested;
    if (vm.count("only")) {
        auto names = parse_backends(only);
        if (!names) {
            std::cerr << "xenvhost-bench: --only '" << only << "': " << names.error().message << "\n";
            return std::nullopt;
        }
        requested = std::move(*names);
    }
    auto set = choose_backends(requested, root);
    if (!set) {
        std::cerr << "xenvhost-bench: " << set.error().message << "\n";
        return std::nullopt;
    }
    c.backends = std::move(set->names);
    c.skipped = std::move(set->skipped);
    if (auto who = sandbox::parse_identity(c.sandbox_user); !who) {
        std::cerr << "xenvhost-bench: --sandbox-user: " << who.error().message << "\n";
        return std::nullopt;
    }
    if (const char* why = check(c)) {
        std::cerr << "xenvhost-bench: " << why << "\n";
        return std::nullopt;
    }
    return c;
}

}  // namespace xenvhost::bench
